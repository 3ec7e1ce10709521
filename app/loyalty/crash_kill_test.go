package loyalty_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/webhooks"
)

// The environment of the child process TestCrashKill_SIGKILLBetweenShopifyAndConfirmation
// starts: it runs TestCrashKillChild, which kills itself with SIGKILL in
// the crash seam.
const (
	envCrashChild  = "PB_CRASH_CHILD"
	envCrashDB     = "PB_CRASH_DB"
	envCrashOrigin = "PB_CRASH_ORIGIN"
	envCrashToken  = "PB_CRASH_TOKEN"
	envCrashShop   = "PB_CRASH_SHOP"
	envCrashCoupon = "PB_CRASH_COUPON"
)

// staticClients hand out clients of a Shopify origin with one token.
type staticClients struct {
	app   *shopify.App
	token string
}

func (c staticClients) Client(sh *store.Shop) *shopify.Client {
	return c.app.NewClient(sh.Domain, tokenFunc(func() string { return c.token }))
}

// TestCrashKillChild is the child process's body; it is skipped unless
// started by the parent test. It runs the job's work for the coupon and
// dies by SIGKILL the moment Shopify has answered, before anything is
// written down.
func TestCrashKillChild(t *testing.T) {
	if os.Getenv(envCrashChild) != "1" {
		t.Skip("run by TestCrashKill_SIGKILLBetweenShopifyAndConfirmation")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, os.Getenv(envCrashDB), 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	shopID, _ := strconv.ParseInt(os.Getenv(envCrashShop), 10, 64)
	couponID, _ := strconv.ParseInt(os.Getenv(envCrashCoupon), 10, 64)
	clients := staticClients{app: &shopify.App{APIKey: "key", APISecret: "secret", ShopOrigin: os.Getenv(envCrashOrigin)}, token: os.Getenv(envCrashToken)}
	die := func(context.Context, int64) error {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal arrives; nothing after this runs
	}
	svc := loyalty.New(store.New(db.Gorm), clients, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), loyalty.WithAfterShopifyCall(die))
	err = svc.CreateCoupon(ctx, app.ShopID(shopID), couponID, false)
	t.Fatalf("CreateCoupon returned (%v): the process was not killed", err)
}

// TestCrashKill_SIGKILLBetweenShopifyAndConfirmation: a real worker
// process is killed (SIGKILL) between Shopify's confirmation and the
// confirmation's write, for a discount code and for a store credit. The
// fake Shopify and the database outlive it. Afterwards the recovery path
// run by another process (this one) leaves points and Shopify in
// agreement: the points spent once, exactly one code or credit, the row
// active, its events written once.
func TestCrashKill_SIGKILLBetweenShopifyAndConfirmation(t *testing.T) {
	t.Parallel()
	if os.Getenv(envCrashChild) != "" {
		t.Skip("in the child")
	}
	for _, reward := range []string{"amount-5", "credit-5"} {
		t.Run(reward, func(t *testing.T) {
			t.Parallel()
			// Real time on both sides: the child has no access to a test clock.
			dbURL := pgtest.NewURL(t)
			db, err := store.Open(context.Background(), dbURL, 8, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(db.Close)
			b := &bundle{db: db, st: store.New(db.Gorm), clock: &clock{t: time.Now()}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			b.shop = b.newShop(t, "America/New_York")
			f := fake.NewShopify(fake.ShopifyOptions{APIKey: "key", APISecret: "secret"})
			srv := httptest.NewServer(f)
			t.Cleanup(srv.Close)
			f.InstallShop(b.shop.Domain)
			f.AddCustomer(b.shop.Domain, fake.ShopifyCustomer{ID: sampleCustomerID})
			origin := srv.URL + "/{shop}"
			token := f.ValidAccessToken(b.shop.Domain)
			b.svc = loyalty.New(b.st, staticClients{app: &shopify.App{APIKey: "key", APISecret: "secret", ShopOrigin: origin}, token: token}, nil, b.log)
			b.proc = webhooks.NewProcessor(b.svc, b.log)
			b.program(t, b.shop, func(s *program.Settings) { s.Rewards = append(s.Rewards, creditReward) })
			b.deliver(t, b.shop, "customers/create", customerBody(sampleCustomerID, "john@example.com"))
			if _, err := b.svc.Adjust(ctxAs("user:1"), b.shop.ID, sampleCustomerID, 1000, "gift", "g"); err != nil {
				t.Fatal(err)
			}
			before := b.balance(t, b.shop, sampleCustomerID)
			c, err := b.svc.RedeemWithKey(ctxAs("shopper"), b.shop.ID, sampleCustomerID, reward, "click-1")
			if err != nil {
				t.Fatal(err)
			}

			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKillChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), envCrashChild+"=1", envCrashDB+"="+dbURL, envCrashOrigin+"="+origin,
				envCrashToken+"="+token, envCrashShop+"="+strconv.FormatInt(int64(b.shop.ID), 10), envCrashCoupon+"="+strconv.FormatInt(c.ID, 10))
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the child was not killed by SIGKILL: %v\n%s", err, out)
			}
			made := len(f.DiscountCodes(b.shop.Domain)) + len(f.StoreCredits(b.shop.Domain))
			if got, _ := b.st.Coupon(context.Background(), b.shop.ID, c.ID); got.Status != store.CouponPending || made != 1 {
				t.Fatalf("after the kill: row %s, Shopify holds %d (want pending, 1)", got.Status, made)
			}

			// Recovery, as the job's retry or the sweep runs it in another process.
			if err := b.svc.CreateCoupon(context.Background(), b.shop.ID, c.ID, false); err != nil {
				t.Fatal(err)
			}
			got, _ := b.st.Coupon(context.Background(), b.shop.ID, c.ID)
			codes, credits := f.DiscountCodes(b.shop.Domain), f.StoreCredits(b.shop.Domain)
			confirmed := len(b.events(t, b.shop, "coupon_created")) + len(b.events(t, b.shop, "store_credit_issued"))
			if got.Status != store.CouponActive || len(codes)+len(credits) != 1 || confirmed != 1 || len(b.events(t, b.shop, "wallet_points_redeemed")) != 1 {
				t.Fatalf("after recovery: row %+v, %d codes, %d credits, %d confirmations", got, len(codes), len(credits), confirmed)
			}
			if reward == "credit-5" && got.ShopifyDiscountID != credits[0].ID || reward == "amount-5" && got.ShopifyDiscountID != codes[0].ID {
				t.Fatalf("the row holds %s, Shopify %+v %+v", got.ShopifyDiscountID, codes, credits)
			}
			if bal := b.balance(t, b.shop, sampleCustomerID); bal != before-500 {
				t.Fatalf("balance %d, want the points spent once: %d", bal, before-500)
			}
			b.reconcile(t, b.shop, sampleCustomerID)
		})
	}
}
