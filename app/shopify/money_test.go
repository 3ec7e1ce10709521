package shopify_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/perkbridge/perkbridge/app/shopify"
)

func TestMoney_MinorUnits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      shopify.Money
		exp     int
		want    int64
		wantErr bool
	}{
		{in: "89.99", exp: 2, want: 8999},
		{in: "404.95", exp: 2, want: 40495},
		{in: "0.00", exp: 2, want: 0},
		{in: "0", exp: 2, want: 0},
		{in: "0.0", exp: 2, want: 0},
		{in: "-0.00", exp: 2, want: 0},
		{in: "-5.00", exp: 2, want: -500},
		{in: "1", exp: 2, want: 100},
		{in: "89.9", exp: 2, want: 8990},
		{in: "5.000", exp: 2, want: 500},
		{in: "15.0", exp: 1, want: 150},
		{in: "1.5", exp: 3, want: 1500},
		{in: "12", exp: 0, want: 12},
		{in: "007.10", exp: 2, want: 710},
		{in: "92233720368547758.07", exp: 2, want: 9223372036854775807},
		{in: "", exp: 2, want: 0},

		{in: "89.999", exp: 2, wantErr: true}, // never rounded
		{in: "0.001", exp: 2, wantErr: true},
		{in: "1e2", exp: 2, wantErr: true},
		{in: "abc", exp: 2, wantErr: true},
		{in: "1.", exp: 2, wantErr: true},
		{in: ".5", exp: 2, wantErr: true},
		{in: "+1.00", exp: 2, wantErr: true},
		{in: "1,00", exp: 2, wantErr: true},
		{in: " 1.00", exp: 2, wantErr: true},
		{in: "-", exp: 2, wantErr: true},
		{in: "92233720368547758.08", exp: 2, wantErr: true},
		{in: "1.00", exp: -1, wantErr: true},
	}
	for _, tt := range tests {
		got, err := tt.in.MinorUnits(tt.exp)
		if tt.wantErr {
			if err == nil {
				t.Errorf("Money(%q).MinorUnits(%d) = %d, want error", tt.in, tt.exp, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Money(%q).MinorUnits(%d) = %d, %v; want %d", tt.in, tt.exp, got, err, tt.want)
		}
	}
}

func TestMoney_JSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		json    string
		want    shopify.Money
		wantErr bool
	}{
		{name: "String", json: `{"m":"89.99"}`, want: "89.99"},
		{name: "Number", json: `{"m":89.99}`, want: "89.99"},
		{name: "IntegerNumber", json: `{"m":0}`, want: "0"},
		{name: "NegativeNumber", json: `{"m":-1.5}`, want: "-1.5"},
		{name: "Null", json: `{"m":null}`, want: ""},
		{name: "Bool", json: `{"m":true}`, wantErr: true},
		{name: "Object", json: `{"m":{}}`, wantErr: true},
	}
	for _, tt := range tests {
		var v struct {
			M shopify.Money `json:"m"`
		}
		err := json.Unmarshal([]byte(tt.json), &v)
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s: decoded %q, want error", tt.name, v.M)
			}
			continue
		}
		if err != nil || v.M != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.name, v.M, err, tt.want)
		}
	}

	t.Run("MarshalAsString", func(t *testing.T) {
		b, err := json.Marshal(struct {
			A, B shopify.Money
		}{A: "89.99"})
		if err != nil || string(b) != `{"A":"89.99","B":null}` {
			t.Errorf("Marshal = %s, %v", b, err)
		}
	})
}

func TestParseGID(t *testing.T) {
	t.Parallel()
	valid := []struct {
		in   string
		kind string
		id   int64
	}{
		{"gid://shopify/Order/820982911946154508", "Order", 820982911946154508},
		{"gid://shopify/Customer/1", "Customer", 1},
		{"gid://shopify/MailingAddress/123?model_name=CustomerAddress", "MailingAddress", 123},
		{"gid://shopify/Customer/9223372036854775807", "Customer", 9223372036854775807},
	}
	for _, tt := range valid {
		kind, id, err := shopify.ParseGID(tt.in)
		if err != nil || kind != tt.kind || id != tt.id {
			t.Errorf("ParseGID(%q) = %q, %d, %v; want %q, %d", tt.in, kind, id, err, tt.kind, tt.id)
		}
		if !strings.Contains(tt.in, "?") { // the query form does not round-trip
			if got := shopify.GID(kind, id); got != tt.in {
				t.Errorf("GID(%q, %d) = %q, want %q", kind, id, got, tt.in)
			}
		}
	}
	invalid := []string{
		"",
		"820982911946154508",
		"gid://shopify/Order",
		"gid://shopify/Order/",
		"gid://shopify//1",
		"gid://shopify/Order/abc",
		"gid://shopify/Order/-1",
		"gid://shopify/Order/0",
		"gid://shopify/Order/1/2",
		"gid://shopify/Order/+1",
		"gid://shopify/Order/9223372036854775808",
		"gid://other/Order/1",
		"https://shopify/Order/1",
		"gid://shopify/Or-der/1",
	}
	for _, in := range invalid {
		if kind, id, err := shopify.ParseGID(in); err == nil {
			t.Errorf("ParseGID(%q) = %q, %d; want error", in, kind, id)
		}
	}
}
