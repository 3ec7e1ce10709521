package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/webhooks"
)

// runWebhook sends one correctly signed webhook, like `shopify app webhook
// trigger`: the payload is an embedded sample for the topic (or -file), the
// signature uses SHOPIFY_API_SECRET (or -secret).
func runWebhook(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("webhook", flag.ContinueOnError)
	fs.SetOutput(stderr)
	topic := fs.String("topic", "", "webhook topic, e.g. orders/paid (samples: "+strings.Join(webhooks.SampleTopics(), ", ")+")")
	url := fs.String("url", "http://localhost:8080/webhooks", "address of the app's webhook endpoint")
	shop := fs.String("shop", "perkbridge-demo.myshopify.com", "shop domain sent in X-Shopify-Shop-Domain")
	secret := fs.String("secret", getenv("SHOPIFY_API_SECRET"), "client secret to sign with (default $SHOPIFY_API_SECRET)")
	file := fs.String("file", "", "send this JSON file instead of the embedded sample")
	id := fs.String("id", "", "X-Shopify-Webhook-Id (default: a new UUID and, for order and refund topics, a new order or refund id; repeat one to test deduplication: the body is then the sample as is)")
	version := fs.String("api-version", "2026-10", "X-Shopify-API-Version")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topic == "" {
		fs.Usage()
		return fmt.Errorf("webhook: -topic is required")
	}
	if *secret == "" {
		return fmt.Errorf("webhook: no secret: set SHOPIFY_API_SECRET or pass -secret")
	}
	var body []byte
	var err error
	if *file != "" {
		body, err = os.ReadFile(*file)
	} else {
		body, err = webhooks.Sample(*topic)
	}
	if err != nil {
		return err
	}
	body = bytes.ReplaceAll(body, []byte("{shop}.myshopify.com"), []byte(*shop))
	if *id == "" {
		*id = uuid.NewString()
		if *file == "" {
			// Each send is a new order or refund, so "send more" earns more.
			if body, err = freshIDs(*topic, body, time.Now()); err != nil {
				return err
			}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", *topic)
	req.Header.Set("X-Shopify-Hmac-Sha256", shopify.SignWebhook(*secret, body))
	req.Header.Set("X-Shopify-Shop-Domain", *shop)
	req.Header.Set("X-Shopify-API-Version", *version)
	req.Header.Set("X-Shopify-Webhook-Id", *id)
	req.Header.Set("X-Shopify-Event-Id", uuid.NewString())
	req.Header.Set("X-Shopify-Triggered-At", time.Now().UTC().Format(time.RFC3339Nano))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	fmt.Fprintf(stdout, "%s %s -> %s (webhook id %s, %d bytes)\n", *topic, *url, resp.Status, *id, len(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("webhook: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// freshIDs gives an embedded order or refund sample a new id (and, for an
// order, a new name and number), derived from now; other topics are
// returned unchanged. Ids are decoded as numbers, never float64.
func freshIDs(topic string, body []byte, now time.Time) ([]byte, error) {
	kind := ""
	switch {
	case strings.HasPrefix(topic, "orders/"):
		kind = "Order"
	case strings.HasPrefix(topic, "refunds/"):
		kind = "Refund"
	default:
		return body, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("webhook: sample %s: %w", topic, err)
	}
	id := now.UnixMicro()
	m["id"] = id
	m["admin_graphql_api_id"] = fmt.Sprintf("gid://shopify/%s/%d", kind, id)
	if kind == "Order" {
		number := 10000 + id%900000
		m["order_number"] = number
		m["number"] = number - 1000
		m["name"] = fmt.Sprintf("#%d", number)
	}
	return json.Marshal(m)
}
