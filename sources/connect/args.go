package connect

import (
	"context"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/kommungraf/kommungraf/sources/declare"
)

// The arguments of a bound field (declare.ArgRef) reach an HTTP call
// template as {args.<name>}, the parent record's fields as
// {parent.<field>} (named parent.<field> in the key). The loader keys of
// such a resource are declare.ArgsKey(key, arguments): Fetch groups them
// by their arguments, and each group is asked as the resource's keys are,
// with its call's template (or a POST's body, body.go) filled in: one
// batch call per group (and per maxKeys), never two groups' keys in one
// call. A key without a newline is asked with every argument null (the
// resolvers always send ArgsKeys).

// fetchArgs answers keys that carry arguments, a group of equal arguments
// at a time, the groups at once.
func (h *HTTP) fetchArgs(ctx context.Context, keys []string) (map[string][]Record, error) {
	return fetchGroups(ctx, keys, func(args url.Values) (fetchFunc, bool) {
		c, ok := h.withArgs(args)
		if !ok {
			return nil, false
		}
		return c.Fetch, true
	})
}

// fetchFunc asks for a batch of bare keys.
type fetchFunc func(ctx context.Context, keys []string) (map[string][]Record, error)

// fetchGroups answers declare.ArgsKeys: it groups them by their arguments
// and asks each group with the fetch call gives for its arguments (ok
// false: the group has no records), the groups at once.
func fetchGroups(ctx context.Context, keys []string, call func(args url.Values) (fetchFunc, bool)) (map[string][]Record, error) {
	type group struct {
		args url.Values
		keys map[string][]string // the bare key -> its loader keys (one)
	}
	groups := map[string]*group{}
	for _, k := range keys {
		g, args, key, err := "", url.Values{}, k, error(nil)
		if strings.Contains(k, "\n") {
			g, args, key, err = declare.ParseArgsKey(k)
		} // else a key without arguments: each one null
		if err != nil || key == "" || len(key) > MaxKeyBytes {
			continue // no key the resolvers ask: no records
		}
		if groups[g] == nil {
			groups[g] = &group{args: args, keys: map[string][]string{}}
		}
		groups[g].keys[key] = append(groups[g].keys[key], k)
	}
	var mu sync.Mutex
	out := make(map[string][]Record, len(keys))
	failed := KeyErrors{}
	asked := 0
	var eg errgroup.Group
	for _, g := range groups {
		fetch, ok := call(g.args)
		if !ok {
			continue // an argument names no record (a dot segment): none
		}
		bare := make([]string, 0, len(g.keys))
		for k := range g.keys {
			bare = append(bare, k)
		}
		asked += len(g.keys)
		eg.Go(func() error {
			recs, err := fetch(ctx, bare)
			mu.Lock()
			defer mu.Unlock()
			for k, v := range recs {
				for _, lk := range g.keys[k] {
					out[lk] = v
				}
			}
			ke, perKey := err.(KeyErrors)
			switch {
			case err == nil:
			case perKey:
				for k, kerr := range ke {
					for _, lk := range g.keys[k] {
						failed[lk] = kerr
					}
				}
			default:
				for _, lks := range g.keys {
					for _, lk := range lks {
						failed[lk] = err
					}
				}
			}
			return nil
		})
	}
	_ = eg.Wait()
	if len(failed) > 0 && len(failed) == asked {
		for _, err := range failed {
			return nil, err // every key failed: the call, not a key
		}
	}
	if len(failed) > 0 {
		return out, failed
	}
	return out, nil
}

// withArgs is the connector with its call template filled in with args:
// a path segment path-escaped (a null or dot-segment value names no
// record: ok is false), a query value query-escaped, its parameter left
// out when the argument is null.
func (h *HTTP) withArgs(args url.Values) (*HTTP, bool) {
	c := *h
	c.args, c.vals = nil, args
	segs := strings.Split(h.path, "/")
	for i, seg := range segs {
		name, ok := argName(seg)
		if !ok {
			continue
		}
		v := args.Get(name)
		if !args.Has(name) || v == "" || v == "." || v == ".." {
			return nil, false
		}
		segs[i] = pathSegment(v)
	}
	c.path = strings.Join(segs, "/")
	if h.query != "" {
		parts := strings.Split(h.query, "&")
		kept := parts[:0:0]
		for _, part := range parts {
			n, v, _ := strings.Cut(part, "=")
			if name, ok := argName(v); ok {
				if !args.Has(name) {
					continue // null: the parameter is left out
				}
				part = n + "=" + url.QueryEscape(args.Get(name))
			}
			kept = append(kept, part)
		}
		c.query = strings.Join(kept, "&")
	}
	return &c, true
}

// argName reads a whole {args.<name>} or {parent.<field>}: the name of
// its value in the key (declare.ArgRef.Key).
func argName(s string) (string, bool) {
	if name, ok := strings.CutPrefix(s, "{args."); ok && strings.HasSuffix(name, "}") {
		return name[:len(name)-1], true
	}
	if name, ok := strings.CutPrefix(s, "{parent."); ok && strings.HasSuffix(name, "}") {
		return "parent." + name[:len(name)-1], true
	}
	return "", false
}
