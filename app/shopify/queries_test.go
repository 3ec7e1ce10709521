package shopify_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/shopify"
)

func TestUserErrorsErr(t *testing.T) {
	t.Parallel()

	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		if err := shopify.UserErrorsErr("op", nil); err != nil {
			t.Fatalf("UserErrorsErr(nil) = %v, want nil", err)
		}
		if err := shopify.UserErrorsErr("op", []shopify.UserError{}); err != nil {
			t.Fatalf("UserErrorsErr([]) = %v, want nil", err)
		}
	})

	t.Run("FirstErrorSurfaces", func(t *testing.T) {
		t.Parallel()
		ue := []shopify.UserError{
			{Field: []string{"basicCodeDiscount", "code"}, Message: "Code must be unique. Please try a different code.", Code: "TAKEN"},
			{Field: []string{"basicCodeDiscount", "title"}, Message: "Title is too long", Code: "TOO_LONG"},
		}
		err := shopify.UserErrorsErr("create discount code", ue)
		if app.ErrorCode(err) != app.EINVALID {
			t.Errorf("ErrorCode = %q, want %q", app.ErrorCode(err), app.EINVALID)
		}
		if app.ErrorMessage(err) != ue[0].Message {
			t.Errorf("ErrorMessage = %q, want %q", app.ErrorMessage(err), ue[0].Message)
		}
		if app.ErrorField(err) != "basicCodeDiscount.code" {
			t.Errorf("ErrorField = %q, want basicCodeDiscount.code", app.ErrorField(err))
		}
		var me *shopify.MutationError
		if !errors.As(err, &me) || len(me.UserErrors) != 2 || !me.HasCode("TAKEN") || me.HasCode("BLANK") || me.Op != "create discount code" {
			t.Errorf("MutationError = %+v", me)
		}
	})
}

func TestClient_CreateDiscountCodeValidation(t *testing.T) {
	t.Parallel()
	// Invalid input is refused before any request: the origin is unroutable.
	a := &shopify.App{APIKey: "k", APISecret: "s", ShopOrigin: "http://127.0.0.1:1/{shop}"}
	c := a.NewClient("a.myshopify.com", nil)
	now := time.Now()
	ok := shopify.DiscountCodeInput{Title: "Reward", Code: "PB-1", CustomerGID: "gid://shopify/Customer/1", Amount: "5.00"}
	tests := []struct {
		name  string
		mod   func(*shopify.DiscountCodeInput)
		field string
	}{
		{"TitleRequired", func(in *shopify.DiscountCodeInput) { in.Title = " " }, "title"},
		{"CodeRequired", func(in *shopify.DiscountCodeInput) { in.Code = "" }, "code"},
		{"NoValue", func(in *shopify.DiscountCodeInput) { in.Amount = "" }, "value"},
		{"BothValues", func(in *shopify.DiscountCodeInput) { in.Percentage = 0.1 }, "value"},
		{"PercentageAboveOne", func(in *shopify.DiscountCodeInput) { in.Amount, in.Percentage = "", 10 }, "percentage"},
		{"NegativePercentage", func(in *shopify.DiscountCodeInput) { in.Amount, in.Percentage = "", -0.1 }, "percentage"},
		{"AmountNotDecimal", func(in *shopify.DiscountCodeInput) { in.Amount = "5 EUR" }, "amount"},
		{"AmountZero", func(in *shopify.DiscountCodeInput) { in.Amount = "0.00" }, "amount"},
		{"CustomerNotAGID", func(in *shopify.DiscountCodeInput) { in.CustomerGID = "42" }, "customer"},
		{"CustomerWrongKind", func(in *shopify.DiscountCodeInput) { in.CustomerGID = "gid://shopify/Order/1" }, "customer"},
		{"EndBeforeStart", func(in *shopify.DiscountCodeInput) { in.StartsAt, in.EndsAt = now, now.Add(-time.Hour) }, "endsAt"},
		{"MinimumNotDecimal", func(in *shopify.DiscountCodeInput) { in.MinimumSubtotal = "twenty" }, "minimumSubtotal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := ok
			tt.mod(&in)
			_, err := c.CreateDiscountCode(context.Background(), in)
			if app.ErrorCode(err) != app.EINVALID || app.ErrorField(err) != tt.field {
				t.Fatalf("err = %v (field %q), want EINVALID on %q", err, app.ErrorField(err), tt.field)
			}
		})
	}
}

func TestClient_InvalidShop(t *testing.T) {
	t.Parallel()
	a := &shopify.App{APIKey: "k", APISecret: "s"}
	c := a.NewClient("evil.com?x.myshopify.com", nil)
	err := c.Do(context.Background(), "{ shop { name } }", nil, nil)
	requireErrorIs(t, err, shopify.ErrInvalidShop, app.EBADREQUEST)
	_, err = c.Customer(context.Background(), "gid://shopify/Customer/1", nil)
	requireErrorIs(t, err, shopify.ErrInvalidShop, app.EBADREQUEST)
}
