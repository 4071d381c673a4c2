package authz

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
)

// APIKey is a system client that authenticates with a static key (the
// open-data app, batch jobs). Only the key's hash is configured, so a leaked
// configuration does not leak the key.
type APIKey struct {
	// Name identifies the key; it becomes Principal.Subject.
	Name string
	// Client is the client application whose information contract applies.
	Client string
	// Roles are the principal's roles; clearance and purposes come from the
	// Authenticator's role table, as for tokens.
	Roles []string
	// Unit is the organisational unit, e.g. "external".
	Unit string
	// SHA256 is the hex SHA-256 of the key (see HashAPIKey).
	SHA256 string
}

// APIKeyPrefix starts every key NewAPIKey makes. Keys contain no dots, so a
// bearer credential is told apart from a JWT by its shape.
const APIKeyPrefix = "kg_"

// NewAPIKey returns a fresh random key: APIKeyPrefix and the unpadded
// base64url of 32 random bytes.
func NewAPIKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("authz: new API key: %w", err)
	}
	return APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// HashAPIKey returns the hex SHA-256 of key, the form APIKey.SHA256 holds.
// A plain hash is enough: keys are 256 random bits, not passwords.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

type apiKeyEntry struct {
	APIKey
	hash [sha256.Size]byte
}

// newAPIKeyEntries checks the configured keys and decodes their hashes.
func newAPIKeyEntries(keys []APIKey) ([]apiKeyEntry, error) {
	var problems []error
	out := make([]apiKeyEntry, 0, len(keys))
	names := map[string]bool{}
	hashes := map[[sha256.Size]byte]bool{}
	for i, k := range keys {
		e := apiKeyEntry{APIKey: k}
		e.Roles = slices.Clone(k.Roles)
		if k.Name == "" {
			problems = append(problems, fmt.Errorf("APIKeys[%d]: empty Name", i))
		} else if names[k.Name] {
			problems = append(problems, fmt.Errorf("APIKeys[%d]: Name %q used twice", i, k.Name))
		}
		names[k.Name] = true
		if k.Client == "" {
			problems = append(problems, fmt.Errorf("APIKeys[%d] (%s): empty Client", i, k.Name))
		}
		h, err := hex.DecodeString(k.SHA256)
		switch {
		case err != nil || len(h) != sha256.Size:
			problems = append(problems, fmt.Errorf("APIKeys[%d] (%s): SHA256 is not %d hex digits", i, k.Name, 2*sha256.Size))
		default:
			copy(e.hash[:], h)
			if hashes[e.hash] {
				problems = append(problems, fmt.Errorf("APIKeys[%d] (%s): the same key is configured twice", i, k.Name))
			}
			hashes[e.hash] = true
		}
		out = append(out, e)
	}
	return out, errors.Join(problems...)
}

// lookupAPIKey finds the entry whose hash matches key's. It compares against
// every entry without an early exit, so the time taken does not reveal which
// entry, if any, matched.
func (a *Authenticator) lookupAPIKey(key string) (*apiKeyEntry, bool) {
	sum := sha256.Sum256([]byte(key))
	found, idx := 0, 0
	for i := range a.apiKeys {
		eq := subtle.ConstantTimeCompare(sum[:], a.apiKeys[i].hash[:])
		idx = subtle.ConstantTimeSelect(eq, i, idx)
		found |= eq
	}
	if found == 0 {
		return nil, false
	}
	return &a.apiKeys[idx], true
}

func (a *Authenticator) authenticateAPIKey(key string) (*Principal, error) {
	if len(key) > maxCredentialBytes {
		return nil, invalid("API key longer than %d bytes", maxCredentialBytes)
	}
	e, ok := a.lookupAPIKey(key)
	if !ok {
		return nil, invalid("unknown API key")
	}
	return a.principal(e.Name, e.Client, e.Roles, e.Unit, "apikey"), nil
}
