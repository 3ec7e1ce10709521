package forward_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/forward"
)

// TestRunner_ProfileSyncReferralURL: the profile sync pushes each member's
// referral URL as loyalty_referral_url, giving a member without a code one
// first; the admin view then shows the same, stable link.
func TestRunner_ProfileSyncReferralURL(t *testing.T) {
	t.Parallel()
	t.Run("Klaviyo", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.connectKlaviyo("email")
		b.define("klaviyo", "wallet_points_rewarded", "")
		c := b.customer(uniqueShopifyID(), "ref@example.com", "")
		b.loyalty(c, 500, "silver", 0, time.Time{})
		b.events(c, rewarded(1, "")...)
		b.run(forward.RunnerOptions{})
		var got any
		b.waitFor(10*time.Second, "profile sync", func() (bool, string) {
			for _, p := range b.kl.Profiles() {
				if p.Email == "ref@example.com" {
					got = p.Properties["loyalty_referral_url"]
					return got != nil, fmt.Sprintf("%+v", p)
				}
			}
			return false, fmt.Sprintf("%+v", b.kl.Profiles())
		})
		code, err := b.st.EnsureReferralCode(context.Background(), b.shop.ID, c.id)
		if err != nil {
			t.Fatal(err)
		}
		if want := "https://" + testShop + "/apps/loyalty/r/" + code; got != want {
			t.Fatalf("loyalty_referral_url = %v, want %s", got, want)
		}
	})
	t.Run("CleverTap", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.connectCleverTap("customer_id")
		b.define("clevertap", "wallet_points_rewarded", "")
		c := b.customer(uniqueShopifyID(), "", "")
		code, err := b.st.EnsureReferralCode(context.Background(), b.shop.ID, c.id) // given before the sync
		if err != nil {
			t.Fatal(err)
		}
		b.loyalty(c, 500, "silver", 0, time.Time{})
		b.events(c, rewarded(1, "")...)
		b.run(forward.RunnerOptions{})
		sid := strconv.FormatInt(c.shopifyID, 10)
		want := "https://" + testShop + "/apps/loyalty/r/" + code
		b.waitFor(10*time.Second, "profile sync", func() (bool, string) {
			for _, p := range b.ct.Profiles() {
				if p.Identity == sid && p.Data["loyalty_referral_url"] == want {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%+v", b.ct.Profiles())
		})
	})
}
