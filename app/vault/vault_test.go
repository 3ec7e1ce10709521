package vault_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/perkbridge/perkbridge/app/vault"
)

var (
	k1 = []byte("0123456789abcdef0123456789abcdef")
	k2 = []byte("fedcba9876543210fedcba9876543210")
)

func TestVault_SealOpen(t *testing.T) {
	t.Parallel()
	v, err := vault.New(k1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.Seal("shpat_secret", "shop:1:access_token")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s, "shpat_secret") || !strings.HasPrefix(s, "v1."+vault.KeyID(k1)+".") {
		t.Fatalf("sealed form %q", s)
	}
	s2, _ := v.Seal("shpat_secret", "shop:1:access_token")
	if s == s2 {
		t.Fatal("two seals of one value must differ (random nonce)")
	}
	got, err := v.Open(s, "shop:1:access_token")
	if err != nil || got != "shpat_secret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	t.Run("OtherPurposeFails", func(t *testing.T) {
		if _, err := v.Open(s, "shop:2:access_token"); !errors.Is(err, vault.ErrCorrupt) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("TamperedFails", func(t *testing.T) {
		b := []byte(s)
		b[len(b)-2] ^= 1
		if _, err := v.Open(string(b), "shop:1:access_token"); !errors.Is(err, vault.ErrCorrupt) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		if s, _ := v.Seal("", "x"); s != "" {
			t.Fatalf("empty seals to %q", s)
		}
	})
}

func TestVault_Rotation(t *testing.T) {
	t.Parallel()
	old, _ := vault.New(k1)
	sealed, _ := old.Seal("refresh", "p")
	rotated, err := vault.New(k2, k1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.Open(sealed, "p"); err != nil || got != "refresh" {
		t.Fatalf("old value under rotated vault: %q %v", got, err)
	}
	if !rotated.NeedsRotation(sealed) {
		t.Fatal("value under old key must need rotation")
	}
	fresh, _ := rotated.Seal("refresh", "p")
	if rotated.NeedsRotation(fresh) {
		t.Fatal("fresh value must not need rotation")
	}
	newOnly, _ := vault.New(k2)
	if _, err := newOnly.Open(sealed, "p"); !errors.Is(err, vault.ErrUnknownKey) {
		t.Fatalf("err = %v", err)
	}
}

func TestMask(t *testing.T) {
	t.Parallel()
	if got := vault.Mask("pk_0123456789abcdef"); got != "••••••••cdef" {
		t.Fatalf("Mask = %q", got)
	}
	if got := vault.Mask("short"); strings.Contains(got, "short") {
		t.Fatalf("short secret leaked: %q", got)
	}
}
