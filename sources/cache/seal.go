package cache

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// KeySize is the length of a seal key: AES-256.
const KeySize = 32

// Formats of a value in Redis: its first byte.
const (
	formatPlain  byte = 'p' // JSON envelope follows
	formatSealed byte = 's' // key id, nonce, AES-GCM sealed JSON envelope follow
)

// ParseKeys parses seal keys as given in KOMMUNGRAF_CACHE_KEYS: a
// comma-separated list of standard base64 encodings of 32-byte keys, the key
// that seals first. Blank items are ignored; an empty string gives no keys.
// Errors name the item by position and never echo key material.
func ParseKeys(s string) ([][]byte, error) {
	var keys [][]byte
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, err := base64.StdEncoding.DecodeString(item)
		if err != nil {
			return nil, fmt.Errorf("cache: seal key %d: not standard base64", i+1)
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("cache: seal key %d: %d bytes, want %d (AES-256)", i+1, len(key), KeySize)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// sealer seals with its first key and opens with any of them.
type sealer struct {
	keys []sealKey
}

type sealKey struct {
	id   byte
	aead cipher.AEAD
}

func newSealer(keys [][]byte) (*sealer, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	s := &sealer{}
	for i, key := range keys {
		if len(key) != KeySize {
			return nil, fmt.Errorf("cache: seal key %d: %d bytes, want %d (AES-256)", i+1, len(key), KeySize)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("cache: seal key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("cache: seal key %d: %w", i+1, err)
		}
		s.keys = append(s.keys, sealKey{id: keyID(key), aead: aead})
	}
	return s, nil
}

// keyID derives the byte that names a key in a sealed value. It is derived
// from the key, not its position, so that reordering the list on rotation
// does not matter. Two keys may share an id: open tries every match.
func keyID(key []byte) byte {
	h := sha256.New()
	h.Write([]byte("kommungraf cache key id\x00"))
	h.Write(key)
	return h.Sum(nil)[0]
}

// seal returns formatSealed, key id, nonce, ciphertext. The cache key is the
// additional authenticated data: the value opens under that key only.
func (s *sealer) seal(cacheKey string, plain []byte) []byte {
	k := s.keys[0]
	ns := k.aead.NonceSize()
	out := make([]byte, 2+ns, 2+ns+len(plain)+k.aead.Overhead())
	out[0], out[1] = formatSealed, k.id
	_, _ = rand.Read(out[2:]) // crypto/rand.Read never fails (Go 1.24+)
	return k.aead.Seal(out, out[2:2+ns], plain, []byte(cacheKey))
}

// open reverses seal. It reports false when no key opens the value: a value
// sealed with a retired key, tampered with, or moved from another key.
func (s *sealer) open(cacheKey string, sealed []byte) ([]byte, bool) {
	if len(sealed) < 2 || sealed[0] != formatSealed {
		return nil, false
	}
	for _, k := range s.keys {
		ns := k.aead.NonceSize()
		if k.id != sealed[1] || len(sealed) < 2+ns+k.aead.Overhead() {
			continue
		}
		plain, err := k.aead.Open(nil, sealed[2:2+ns], sealed[2+ns:], []byte(cacheKey))
		if err == nil {
			return plain, true
		}
	}
	return nil, false
}
