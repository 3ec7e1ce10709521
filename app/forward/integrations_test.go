package forward_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/forward"
)

func TestService_List(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	list, err := b.svc.List(ctx, b.shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(list)
	if string(got) != `[{"kind":"clevertap","status":"not_connected","status_reason":"","common_property":"","phone_fallback":false,"send_phone":false},`+
		`{"kind":"klaviyo","status":"not_connected","status_reason":"","common_property":"","phone_fallback":true,"send_phone":false}]` {
		t.Fatalf("list %s", got)
	}
	b.connectCleverTap("customer_id")
	list, _ = b.svc.List(ctx, b.shop.ID)
	if list[0].Status != "active" || list[0].Region != ctRegion || list[0].CommonProperty != "customer_id" || list[1].Status != "not_connected" {
		t.Fatalf("list %+v", list)
	}
}

func TestService_ConnectKlaviyo(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{klaviyo: fake.KlaviyoOptions{Keys: []fake.KlaviyoKey{
		{Key: klaviyoKey},
		{Key: "pk_noscope_000000000000", Scopes: []string{"events:write"}}, // no accounts:read
	}}})
	ctx := context.Background()
	connect := func(prop, key string) (forward.IntegrationView, error) {
		return b.svc.ConnectKlaviyo(ctx, b.shop.ID, forward.KlaviyoInput{CommonProperty: prop, PrivateAPIKey: key})
	}

	t.Run("InvalidInput", func(t *testing.T) {
		for _, tc := range []struct{ prop, key, field string }{
			{"", klaviyoKey, "common_property"},
			{"metafield:nodot", klaviyoKey, "common_property"},
			{"email", "sk_live_123456789", "private_api_key"},
			{"email", "", "private_api_key"}, // nothing stored yet
		} {
			_, err := connect(tc.prop, tc.key)
			if app.ErrorCode(err) != app.EINVALID || fieldOf(err) != tc.field {
				t.Errorf("connect(%q, %q) = %v; want a %s field error", tc.prop, tc.key, err, tc.field)
			}
		}
		if _, err := b.st.Integration(ctx, b.shop.ID, "klaviyo"); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("invalid input saved something: %v", err)
		}
	})
	t.Run("BadKeyFirstTime", func(t *testing.T) {
		v, err := connect("email", "pk_unknown_0000000000000")
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != "not_connected" || !strings.Contains(v.StatusReason, "Klaviyo rejected the private API key (401 not_authenticated)") {
			t.Fatalf("%+v", v)
		}
	})
	t.Run("KeyWithoutScope", func(t *testing.T) {
		v, err := connect("email", "pk_noscope_000000000000")
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != "not_connected" || !strings.Contains(v.StatusReason, "valid but lacks a scope (403 permission_denied") ||
			!strings.Contains(v.StatusReason, "accounts:read") {
			t.Fatalf("%+v", v)
		}
	})
	t.Run("Valid", func(t *testing.T) {
		v, err := connect("phone", klaviyoKey)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != "active" || v.StatusReason != "" || v.CommonProperty != "phone" || v.CredentialsHint != "••••••••0123" || v.ValidatedAt == nil {
			t.Fatalf("%+v", v)
		}
		// The key is never in the answer, the row or the logs.
		body, _ := json.Marshal(v)
		row, _ := b.st.Integration(ctx, b.shop.ID, "klaviyo")
		if strings.Contains(string(body), klaviyoKey) || strings.Contains(row.Credentials, klaviyoKey) || strings.Contains(b.logs.String(), klaviyoKey) {
			t.Fatal("the private key leaked")
		}
		if !strings.HasPrefix(row.Credentials, "v1.") || row.AccountID != "AbC123" {
			t.Fatalf("row %+v", row)
		}
	})
	t.Run("EmptyKeyKeepsStoredOne", func(t *testing.T) {
		v, err := connect("email", "")
		if err != nil || v.Status != "active" || v.CommonProperty != "email" {
			t.Fatalf("%+v, %v", v, err)
		}
	})
	t.Run("BadKeyAfterConnectedPauses", func(t *testing.T) {
		v, err := connect("email", "pk_revoked_00000000000000")
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != "paused" || !strings.Contains(v.StatusReason, "401") {
			t.Fatalf("%+v", v)
		}
		if v, err = connect("email", klaviyoKey); err != nil || v.Status != "active" {
			t.Fatalf("reconnect: %+v, %v", v, err)
		}
	})
	t.Run("UnreachableChangesNothing", func(t *testing.T) {
		b.kl.FailNext(503, 1)
		_, err := connect("customer_id", klaviyoKey)
		if app.ErrorCode(err) != app.EUNAVAILABLE {
			t.Fatalf("err = %v", err)
		}
		row, _ := b.st.Integration(ctx, b.shop.ID, "klaviyo")
		if row.Status != "active" || row.CommonProperty != "email" {
			t.Fatalf("an inconclusive check changed the integration: %+v", row)
		}
	})
	t.Run("Disconnect", func(t *testing.T) {
		b.define("klaviyo", "coupon_created", "")
		if err := b.svc.Disconnect(ctx, b.shop.ID, "klaviyo"); err != nil {
			t.Fatal(err)
		}
		if v, _ := b.svc.Get(ctx, b.shop.ID, "klaviyo"); v.Status != "not_connected" {
			t.Fatalf("after disconnect %+v", v)
		}
		if _, err := b.svc.ListDefinitions(ctx, b.shop.ID, "klaviyo"); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("definitions after disconnect: %v", err)
		}
		var n int
		_ = b.st.Gorm().Raw("SELECT count(*) FROM event_definitions WHERE shop_id = ?", b.shop.ID).Scan(&n)
		if n != 0 {
			t.Fatalf("%d definitions left", n)
		}
		if err := b.svc.Disconnect(ctx, b.shop.ID, "klaviyo"); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("second disconnect: %v", err)
		}
		if err := b.svc.Disconnect(ctx, b.shop.ID, "mailchimp"); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("unknown kind: %v", err)
		}
	})
}

func TestService_ConnectCleverTap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	connect := func(in forward.CleverTapInput) (forward.IntegrationView, error) {
		return b.svc.ConnectCleverTap(ctx, b.shop.ID, in)
	}
	t.Run("InvalidInput", func(t *testing.T) {
		for _, tc := range []struct {
			in    forward.CleverTapInput
			field string
		}{
			{forward.CleverTapInput{CommonProperty: "email", Passcode: ctPasscode, Region: "in1"}, "account_id"},
			{forward.CleverTapInput{CommonProperty: "email", AccountID: ctAccount, Passcode: ctPasscode, Region: "mars1"}, "region"},
			{forward.CleverTapInput{CommonProperty: "email", AccountID: ctAccount, Region: "in1"}, "passcode"},
			{forward.CleverTapInput{CommonProperty: "fax", AccountID: ctAccount, Passcode: ctPasscode, Region: "in1"}, "common_property"},
		} {
			_, err := connect(tc.in)
			if app.ErrorCode(err) != app.EINVALID || fieldOf(err) != tc.field {
				t.Errorf("connect(%+v) = %v; want a %s field error", tc.in, err, tc.field)
			}
		}
	})
	t.Run("WrongRegionNamesTheRightOne", func(t *testing.T) {
		// The account lives in in1; the merchant picked sg1.
		v, err := connect(forward.CleverTapInput{CommonProperty: "email", AccountID: ctAccount, Passcode: ctPasscode, Region: "sg1"})
		if err != nil {
			t.Fatal(err)
		}
		want := "Invalid credentials for region sg1 (Singapore). These credentials work in in1 (India): choose that server prefix."
		if v.Status != "not_connected" || v.StatusReason != want {
			t.Fatalf("%+v\nwant reason %q", v, want)
		}
		// Re-submitting with the right region and no passcode keeps the
		// stored one.
		v, err = connect(forward.CleverTapInput{CommonProperty: "email", AccountID: ctAccount, Region: "in1"})
		if err != nil || v.Status != "active" || v.Region != "in1" || v.StatusReason != "" {
			t.Fatalf("%+v, %v", v, err)
		}
	})
	t.Run("WrongPasscodeEverywhere", func(t *testing.T) {
		v, err := connect(forward.CleverTapInput{CommonProperty: "email", AccountID: ctAccount, Passcode: "WRONG-PASS", Region: "in1"})
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != "paused" || !strings.Contains(v.StatusReason, "for region in1 (India), and in every other region") {
			t.Fatalf("%+v", v)
		}
		if strings.Contains(b.logs.String(), ctPasscode) || strings.Contains(b.logs.String(), "WRONG-PASS") {
			t.Fatal("a passcode was logged")
		}
	})
	t.Run("OtherAccountNeedsItsPasscode", func(t *testing.T) {
		_, err := connect(forward.CleverTapInput{CommonProperty: "email", AccountID: "OTHER-ACC", Region: "in1"})
		if fieldOf(err) != "passcode" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("DefaultRegionIsEU", func(t *testing.T) {
		b.ct.AddAccount("EU-ACC", "EU-PASS", "eu1")
		v, err := connect(forward.CleverTapInput{CommonProperty: "customer_id", AccountID: "EU-ACC", Passcode: "EU-PASS"})
		if err != nil || v.Status != "active" || v.Region != "eu1" || v.AccountID != "EU-ACC" {
			t.Fatalf("%+v, %v", v, err)
		}
	})
}

func TestService_Definitions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.svc.CreateDefinition(ctx, b.shop.ID, "klaviyo", forward.DefinitionInput{Event: "coupon_created"})
	if app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("definition before connecting: %v", err)
	}
	b.connectKlaviyo("email")
	b.connectCleverTap("email")

	d := b.define("klaviyo", "wallet_points_rewarded", "", "pos", "online_store", "pos")
	body, _ := json.Marshal(d)
	want := `{"id":` + jsonNum(d.ID) + `,"event":"wallet_points_rewarded","channels":["online_store","pos"],"name":"wallet_points_rewarded","enabled":true}`
	if string(body) != want {
		t.Fatalf("created %s\nwant %s", body, want)
	}
	t.Run("Invalid", func(t *testing.T) {
		for _, tc := range []struct {
			kind  string
			in    forward.DefinitionInput
			code  string
			field string
		}{
			{"klaviyo", forward.DefinitionInput{Event: "points_earned"}, app.EINVALID, "event"},
			{"klaviyo", forward.DefinitionInput{Event: "coupon_redeemed", Channels: []string{"web"}}, app.EINVALID, "channels"},
			{"klaviyo", forward.DefinitionInput{Event: "tier_upgraded", Channels: []string{"pos"}}, app.EINVALID, "channels"},
			{"klaviyo", forward.DefinitionInput{Event: "coupon_created", Name: strings.Repeat("n", 128)}, app.EINVALID, "name"},
			{"clevertap", forward.DefinitionInput{Event: "coupon_created", Name: "Loyalty: Coupon"}, app.EINVALID, "name"},
			{"klaviyo", forward.DefinitionInput{Event: "wallet_points_rewarded"}, app.ECONFLICT, ""},
			{"mailchimp", forward.DefinitionInput{Event: "coupon_created"}, app.ENOTFOUND, ""},
		} {
			_, err := b.svc.CreateDefinition(ctx, b.shop.ID, tc.kind, tc.in)
			if app.ErrorCode(err) != tc.code || fieldOf(err) != tc.field {
				t.Errorf("create %s %+v = %v; want %s %s", tc.kind, tc.in, err, tc.code, tc.field)
			}
		}
	})
	t.Run("Update", func(t *testing.T) {
		off, name, none := false, "Loyalty Points Earned", []string{}
		got, err := b.svc.UpdateDefinition(ctx, b.shop.ID, "klaviyo", d.ID, forward.DefinitionPatch{Enabled: &off, Name: &name, Channels: &none})
		if err != nil || got.Enabled || got.Name != name || len(got.Channels) != 0 || got.Channels == nil {
			t.Fatalf("%+v, %v", got, err)
		}
		empty := ""
		got, _ = b.svc.UpdateDefinition(ctx, b.shop.ID, "klaviyo", d.ID, forward.DefinitionPatch{Name: &empty})
		if got.Name != "wallet_points_rewarded" || got.Enabled {
			t.Fatalf("%+v", got)
		}
		// The definition belongs to the Klaviyo integration only.
		if _, err := b.svc.UpdateDefinition(ctx, b.shop.ID, "clevertap", d.ID, forward.DefinitionPatch{Enabled: &off}); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("cross-integration update: %v", err)
		}
	})
	t.Run("ListAndDelete", func(t *testing.T) {
		b.define("klaviyo", "coupon_created", "")
		list, err := b.svc.ListDefinitions(ctx, b.shop.ID, "klaviyo")
		if err != nil || len(list) != 2 {
			t.Fatalf("%+v, %v", list, err)
		}
		if err := b.svc.DeleteDefinition(ctx, b.shop.ID, "klaviyo", d.ID); err != nil {
			t.Fatal(err)
		}
		if err := b.svc.DeleteDefinition(ctx, b.shop.ID, "klaviyo", d.ID); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("second delete: %v", err)
		}
		if list, _ := b.svc.ListDefinitions(ctx, b.shop.ID, "klaviyo"); len(list) != 1 || list[0].Event != "coupon_created" {
			t.Fatalf("%+v", list)
		}
	})
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }
