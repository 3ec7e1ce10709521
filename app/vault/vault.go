// Package vault seals secrets at rest (Shopify access and refresh tokens,
// sink credentials) with AES-256-GCM. Every sealed value names the key it
// was sealed with, so ENCRYPTION_KEY can rotate: new values use the current
// key, old values still open with the keys kept in ENCRYPTION_KEYS_OLD.
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownKey means a value was sealed under a key this process does not have.
var ErrUnknownKey = errors.New("vault: sealed with an unknown key")

// ErrCorrupt means a value is malformed or failed authentication.
var ErrCorrupt = errors.New("vault: value is corrupt or was tampered with")

// Vault seals and opens values. It is safe for concurrent use.
type Vault struct {
	current string
	aeads   map[string]cipher.AEAD
}

// KeyID is a short, non-secret fingerprint of a key, stored beside each value.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("perkbridge-vault-key-id:"), key...))
	return hex.EncodeToString(sum[:4])
}

// New returns a vault sealing with current and opening with current and old.
func New(current []byte, old ...[]byte) (*Vault, error) {
	v := &Vault{aeads: map[string]cipher.AEAD{}}
	for i, k := range append([][]byte{current}, old...) {
		if len(k) != 32 {
			return nil, fmt.Errorf("vault: key %d must be 32 bytes, got %d", i, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
		id := KeyID(k)
		if i == 0 {
			v.current = id
		}
		v.aeads[id] = aead
	}
	return v, nil
}

// Seal encrypts plaintext as "v1.<key id>.<base64 nonce|ciphertext>". The
// additional data binds the value to its purpose (for example
// "shop:42:access_token") so a sealed value cannot be moved to another row
// or column and still open. An empty plaintext seals to "".
func (v *Vault) Seal(plaintext, additional string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	aead := v.aeads[v.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("vault: nonce: %w", err)
	}
	out := aead.Seal(nonce, nonce, []byte(plaintext), []byte(additional))
	return "v1." + v.current + "." + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value produced by Seal with the same additional data.
func (v *Vault) Open(sealed, additional string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	parts := strings.SplitN(sealed, ".", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return "", ErrCorrupt
	}
	aead, ok := v.aeads[parts[1]]
	if !ok {
		return "", fmt.Errorf("%w (key id %s)", ErrUnknownKey, parts[1])
	}
	raw, err := base64.RawStdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", ErrCorrupt
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(additional))
	if err != nil {
		return "", ErrCorrupt
	}
	return string(pt), nil
}

// NeedsRotation reports whether a sealed value uses a key other than the
// current one, so a background pass can re-seal it.
func (v *Vault) NeedsRotation(sealed string) bool {
	parts := strings.SplitN(sealed, ".", 3)
	return sealed != "" && (len(parts) != 3 || parts[1] != v.current)
}

// Mask returns a display form of a secret that shows only its last four
// characters, for settings pages that must never render credentials back.
func Mask(secret string) string {
	if secret == "" {
		return ""
	}
	if len(secret) <= 8 {
		return strings.Repeat("•", 8)
	}
	return strings.Repeat("•", 8) + secret[len(secret)-4:]
}
