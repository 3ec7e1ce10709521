package webhooks

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

// The samples are Shopify's published 2026-04 example payloads (see
// samples/README.md). orders_paid.json is the one payload changed: Shopify's
// example is a voided, cancelled test order, so ours is made paid and live.
//
//go:embed samples/*.json
var samples embed.FS

// Sample returns the embedded sample payload for topic ("orders/paid").
func Sample(topic string) ([]byte, error) {
	b, err := samples.ReadFile("samples/" + strings.ReplaceAll(topic, "/", "_") + ".json")
	if err != nil {
		return nil, fmt.Errorf("webhooks: no sample for topic %q (have: %s)", topic, strings.Join(SampleTopics(), ", "))
	}
	return b, nil
}

// SampleTopics lists the topics with an embedded sample.
func SampleTopics() []string {
	entries, _ := samples.ReadDir("samples")
	var out []string
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".json")
		if name == e.Name() {
			continue
		}
		out = append(out, strings.Replace(name, "_", "/", 1))
	}
	sort.Strings(out)
	return out
}
