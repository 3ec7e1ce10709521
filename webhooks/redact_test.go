package webhooks_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/pglocal"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/webhooks"
)

// orderFor is the sample orders/paid body made into a real paid order of
// customer (0: a guest) with the given email and phone everywhere Shopify
// puts them.
func orderFor(t *testing.T, orderID, customer int64, email, phone string) []byte {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(sample(t, "orders/paid")))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	m["id"], m["admin_graphql_api_id"] = orderID, fmt.Sprintf("gid://shopify/Order/%d", orderID)
	m["email"], m["contact_email"], m["phone"] = email, email, phone
	m["test"], m["cancelled_at"], m["financial_status"] = false, nil, "paid"
	for _, k := range []string{"billing_address", "shipping_address"} {
		if a, ok := m[k].(map[string]any); ok {
			a["phone"] = phone
		}
	}
	if customer == 0 {
		m["customer"] = nil
	} else {
		m["customer"] = map[string]any{"id": customer, "admin_graphql_api_id": fmt.Sprintf("gid://shopify/Customer/%d", customer),
			"email": email, "phone": phone, "first_name": "Rhea", "last_name": "Dact", "state": "enabled"}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dump is the database's data as pg_dump writes it, with bytea values (the
// stored webhook bodies) also decoded from their hex form, lower-cased.
func dump(t *testing.T, url string) string {
	t.Helper()
	bin, err := pglocal.FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(bin, "pg_dump"), "--data-only", "--no-owner", "--dbname", url)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pg_dump: %v: %s", err, stderr.String())
	}
	text := out.String()
	// bytea is dumped as \x<hex>: decode every such run.
	var decoded strings.Builder
	for _, part := range strings.Split(text, `\\x`) {
		end := 0
		for end < len(part) && strings.IndexByte("0123456789abcdef", part[end]) >= 0 {
			end++
		}
		if b, err := hex.DecodeString(part[:end-end%2]); err == nil {
			decoded.Write(b)
			decoded.WriteByte('\n')
		}
	}
	return strings.ToLower(text + "\n" + decoded.String())
}

// TestCustomersRedact_LeavesNoTrace: a customer's data arrives through
// every topic and ends in every inbox outcome (processed, ignored by the
// engine, ignored at intake while the app was uninstalled, failed as
// malformed JSON, still pending), plus a guest order with their email.
// After customers/redact, a full data dump of the database holds neither
// their email nor their phone, while another customer's data is untouched.
func TestCustomersRedact_LeavesNoTrace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	sh := b.installShop(t, "forget-me.myshopify.com")
	const rhea, keep int64 = 880001, 880002
	const rheaEmail, rheaPhone = "Rhea.Dact@Example.com", "+14155559876"
	const keepEmail = "keep.me@example.com"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := loyalty.New(b.st, nil, nil, log)
	stop := b.startWorker(t, svc, "w")
	settled := func(ids ...string) {
		for _, id := range ids {
			b.waitFor(t, id+" settled", func() bool {
				return b.count(t, "SELECT count(*) FROM webhooks WHERE webhook_id = $1 AND status <> 'pending'", id) == 1
			})
		}
	}
	send := func(topic, id string, body []byte) {
		t.Helper()
		if resp := b.send(t, delivery{topic: topic, shop: sh.Domain, id: id, body: body}); resp.StatusCode != 200 {
			t.Fatalf("%s: %s", id, resp.Status)
		}
	}
	created := `"created_at":"2026-12-01T10:00:00Z","updated_at":"2026-12-01T10:00:00Z"`
	send("customers/create", "c-rhea", []byte(fmt.Sprintf(`{"id":%d,"admin_graphql_api_id":"gid://shopify/Customer/%d","email":%q,"phone":%q,"first_name":"Rhea","last_name":"Dact","state":"enabled",%s}`, rhea, rhea, rheaEmail, rheaPhone, created)))
	send("customers/create", "c-keep", []byte(fmt.Sprintf(`{"id":%d,"admin_graphql_api_id":"gid://shopify/Customer/%d","email":%q,"phone":null,"first_name":"Kee","last_name":"P","state":"enabled",%s}`, keep, keep, keepEmail, created)))
	send("orders/create", "o1-create", orderFor(t, 9100001, rhea, rheaEmail, rheaPhone))       // ignored: earns on paid
	send("orders/paid", "o1-paid", orderFor(t, 9100001, rhea, rheaEmail, rheaPhone))           // processed
	send("orders/paid", "o-keep", orderFor(t, 9100009, keep, keepEmail, "+14155550000"))       // the other customer
	send("orders/paid", "guest-paid", orderFor(t, 9100002, 0, strings.ToLower(rheaEmail), "")) // a guest order with her email
	send("fulfillments/create", "f1", []byte(fmt.Sprintf(`{"id":4400001,"order_id":9100001,"status":"success","email":%q,"destination":{"first_name":"Rhea","phone":%q}}`, rheaEmail, rheaPhone)))
	send("orders/updated", "o1-malformed", []byte(fmt.Sprintf(`{"id":9100001,"email":%q,"phone":%q,"line_items":[`, rheaEmail, rheaPhone))) // failed at intake
	settled("c-rhea", "c-keep", "o1-create", "o1-paid", "o-keep", "guest-paid", "f1", "o1-malformed")
	if n := b.count(t, "SELECT count(*) FROM webhooks WHERE status = 'failed'"); n != 1 {
		t.Fatalf("%d failed rows, want the malformed one", n)
	}
	// While uninstalled, intake stores and ignores her order's update.
	if err := b.st.MarkUninstalled(ctx, sh.ID); err != nil {
		t.Fatal(err)
	}
	send("orders/updated", "o1-while-uninstalled", orderFor(t, 9100001, rhea, rheaEmail, rheaPhone))
	settled("o1-while-uninstalled")
	if _, err := b.st.SaveInstall(ctx, sh.Domain, store.Tokens{AccessToken: "sealed"}); err != nil {
		t.Fatal(err)
	}
	// A delivery still pending when the redact is processed.
	stop(false)
	send("orders/updated", "o1-pending", orderFor(t, 9100001, rhea, rheaEmail, rheaPhone))
	for _, st := range []string{"processed", "ignored", "failed", "pending"} {
		if n := b.count(t, "SELECT count(*) FROM webhooks WHERE shop_id = $1 AND status = $2", sh.ID, st); n == 0 {
			t.Fatalf("no %s row before the redaction", st)
		}
	}
	if d := dump(t, b.dbURL); !strings.Contains(d, strings.ToLower(rheaEmail)) || !strings.Contains(d, rheaPhone) {
		t.Fatal("the witness is blind: the dump lacks her email or phone before the redaction")
	}

	redact := []byte(fmt.Sprintf(`{"shop_id":1,"shop_domain":%q,"customer":{"id":%d,"email":%q,"phone":%q},"orders_to_redact":[9100001,9100002]}`,
		sh.Domain, rhea, strings.ToUpper(rheaEmail), rheaPhone))
	send("customers/redact", "redact-rhea", redact)
	// Processed the way the worker does, while o1-pending stays pending.
	var redactID int64
	if err := b.db.Pool.QueryRow(ctx, "SELECT id FROM webhooks WHERE webhook_id = 'redact-rhea'").Scan(&redactID); err != nil {
		t.Fatal(err)
	}
	proc := webhooks.NewProcessor(svc, log)
	err := b.st.Tx(ctx, func(tx *store.Store) error {
		wh, err := tx.LockWebhook(ctx, redactID)
		if err != nil {
			return err
		}
		subject, err := proc.Dispatch(ctx, tx, wh)
		var ig *job.IgnoredError
		if errors.As(err, &ig) {
			return fmt.Errorf("redact ignored: %s", ig.Reason)
		}
		if err != nil {
			return err
		}
		return tx.MarkWebhookProcessed(ctx, redactID, subject)
	})
	if err != nil {
		t.Fatal(err)
	}

	d := dump(t, b.dbURL)
	for _, secret := range []string{strings.ToLower(rheaEmail), rheaPhone, "rhea.dact"} {
		if i := strings.Index(d, secret); i >= 0 {
			t.Errorf("the dump still holds %q: …%s…", secret, d[max(0, i-200):min(len(d), i+100)])
		}
	}
	if !strings.Contains(d, keepEmail) {
		t.Error("the other customer's data went too")
	}
	if n := b.count(t, "SELECT count(*) FROM customers WHERE shop_id = $1 AND shopify_id = $2", sh.ID, keep); n != 1 {
		t.Error("the other customer's row went too")
	}
	// The rows stay, blank, so redeliveries stay deduplicated.
	if n := b.count(t, "SELECT count(*) FROM webhooks WHERE shop_id = $1 AND redacted_at IS NOT NULL", sh.ID); n < 8 {
		t.Errorf("%d rows blanked, want every row naming her (8)", n)
	}
}
