package jwtauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/natter/natter/proto"
)

// Defaults for the zero values of JWKSConfig.
const (
	DefaultJWKSTimeout    = 5 * time.Second
	DefaultJWKSMaxBytes   = 1 << 20
	DefaultJWKSMaxAge     = time.Hour
	DefaultJWKSMinRefresh = 10 * time.Second
)

// JWKSConfig tunes the fetching of a key set. The zero value of every
// field means its default.
type JWKSConfig struct {
	Timeout  time.Duration // for one fetch; 5s
	MaxBytes int64         // of a key set; 1 MiB
	// MaxAge is how long a fetched set is used before it is fetched again;
	// 1h. A token whose kid the set lacks fetches it sooner, but no sooner
	// than MinRefresh after the last fetch (10s): forged kids do not make
	// the gateway hammer the key server.
	MaxAge     time.Duration
	MinRefresh time.Duration
	Client     *http.Client // http.DefaultClient's transport, with Timeout
}

// jwks is a key set fetched from a URL and kept.
type jwks struct {
	url string
	cfg JWKSConfig
	now func() time.Time

	// mu is held through a fetch: tokens that need one wait for it
	// rather than fetch again.
	mu      sync.Mutex
	keys    map[string]key // by kid
	fetched time.Time      // of the last fetch, whether it worked or not
	good    time.Time      // of the last fetch that worked
	lastErr error          // of the last fetch, nil if it worked
}

func newJWKS(rawURL string, cfg JWKSConfig, now func() time.Time) (*jwks, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("jwtauth: JWKS URL %q: an http(s) URL", rawURL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultJWKSTimeout
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultJWKSMaxBytes
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultJWKSMaxAge
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = DefaultJWKSMinRefresh
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout}
	}
	return &jwks{url: rawURL, cfg: cfg, now: now}, nil
}

// key returns the key kid names; a kid of "" is the set's only key. It
// fetches the set first when it has none, when it is older than MaxAge,
// or when it lacks kid (at most once per MinRefresh).
func (s *jwks) key(ctx context.Context, kid string) (key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	stale := s.good.IsZero() || now.Sub(s.good) > s.cfg.MaxAge
	k, found := s.find(kid)
	due := s.fetched.IsZero() || now.Sub(s.fetched) >= s.cfg.MinRefresh
	if (stale || !found) && due {
		s.fetched = now
		if keys, err := s.fetch(ctx); err != nil {
			s.lastErr = err
		} else {
			s.keys, s.good, s.lastErr = keys, now, nil
		}
		k, found = s.find(kid)
	}
	switch {
	case found:
		return k, nil
	case s.keys == nil:
		return key{}, proto.Errorf(proto.CodeAuthUnavailable, "the key set could not be fetched; try again")
	case kid == "":
		return key{}, proto.Errorf(proto.CodeTokenUnknownKey, "the token names no kid, and the key set has %d keys", len(s.keys))
	}
	return key{}, proto.Errorf(proto.CodeTokenUnknownKey, "kid %q is not in the key set", kid)
}

// find looks kid up in the keys held.
func (s *jwks) find(kid string) (key, bool) {
	if kid == "" {
		if len(s.keys) == 1 {
			for _, k := range s.keys {
				return k, true
			}
		}
		return key{}, false
	}
	k, ok := s.keys[kid]
	return k, ok
}

// fetch gets the set, within Timeout and MaxBytes.
func (s *jwks) fetch(ctx context.Context) (map[string]key, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.cfg.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	if int64(len(body)) > s.cfg.MaxBytes {
		return nil, fmt.Errorf("jwks: over %d bytes", s.cfg.MaxBytes)
	}
	return parseJWKS(body)
}

// parseJWKS reads a key set, keeping the keys it can use; a key it cannot
// parse (a broken one) fails the whole set, rather than leave it out
// unnoticed.
func parseJWKS(body []byte) (map[string]key, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	keys := make(map[string]key, len(set.Keys))
	for _, j := range set.Keys {
		k, ok, err := j.parse()
		if err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		if ok {
			keys[j.Kid] = k
		}
	}
	return keys, nil
}
