package app_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/perkbridge/perkbridge/app"
)

func TestErrorCode(t *testing.T) {
	t.Parallel()
	base := app.Errorf(app.ENOTFOUND, "Customer not found.")
	wrapped := fmt.Errorf("store: find customer: %w", base)
	cases := []struct {
		name    string
		err     error
		code    string
		message string
	}{
		{"Nil", nil, "", ""},
		{"AppError", base, app.ENOTFOUND, "Customer not found."},
		{"Wrapped", wrapped, app.ENOTFOUND, "Customer not found."},
		{"Plain", errors.New("boom"), app.EINTERNAL, "An internal error has occurred."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := app.ErrorCode(tc.err); got != tc.code {
				t.Errorf("ErrorCode = %q, want %q", got, tc.code)
			}
			if got := app.ErrorMessage(tc.err); got != tc.message {
				t.Errorf("ErrorMessage = %q, want %q", got, tc.message)
			}
		})
	}
}

func TestFieldError(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("wrap: %w", app.FieldError("points", "Points must be positive."))
	if app.ErrorField(err) != "points" || app.ErrorCode(err) != app.EINVALID {
		t.Fatalf("got field %q code %q", app.ErrorField(err), app.ErrorCode(err))
	}
	cause := errors.New("dial tcp: refused")
	w := app.Wrap(app.EUNAVAILABLE, cause, "Database unavailable.")
	if !errors.Is(w, cause) {
		t.Fatal("Wrap must keep the cause in the chain")
	}
}

func TestContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, ok := app.ShopFrom(ctx); ok {
		t.Fatal("empty context must carry no shop")
	}
	ctx = app.WithShop(ctx, app.Shop{ID: 7, Domain: "a.myshopify.com"})
	s, ok := app.ShopFrom(ctx)
	if !ok || s.ID != 7 || s.Domain != "a.myshopify.com" {
		t.Fatalf("ShopFrom = %+v, %v", s, ok)
	}
	if app.ActorFrom(ctx) != "system" {
		t.Fatal("default actor must be system")
	}
	ctx = app.WithActor(app.WithRequestID(ctx, "r1"), "user:42")
	if app.ActorFrom(ctx) != "user:42" || app.RequestIDFrom(ctx) != "r1" {
		t.Fatal("actor or request id lost")
	}
}
