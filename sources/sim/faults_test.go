package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/sources/rest"
	"github.com/kommungraf/kommungraf/sources/soap"
)

// faultTarget is one endpoint of one simulator, for the fault tests.
type faultTarget struct {
	name, system string
	newHandler   func(*Faults, *Stats) http.Handler
	method, path string
	body         []byte
}

func faultTargets(t *testing.T) map[string]faultTarget {
	t.Helper()
	w := httpTestWorld()
	return map[string]faultTarget{
		"etjanst": {"etjanst", "etjanst", func(f *Faults, s *Stats) http.Handler {
			return NewETjanst(w, ETjanstOptions{Faults: f, Stats: s})
		}, http.MethodGet, "/api/v1/errands?limit=5", nil},
		"navet": {"navet", "folkbokforing", func(f *Faults, s *Stats) http.Handler {
			return NewNavet(w, NavetOptions{Faults: f, Stats: s})
		}, http.MethodPost, "/", personpostEnvelope(t, DefaultOrder, w.People[0].PersonalNumber)},
		"geodata": {"geodata", "geodata", func(f *Faults, s *Stats) http.Handler {
			return NewGeodata(w, GeodataOptions{Faults: f, Stats: s})
		}, http.MethodGet, "/collections/fastigheter/items?limit=3", nil},
		"lagfart": {"lagfart", "geodata", func(f *Faults, s *Stats) http.Handler {
			return NewGeodata(w, GeodataOptions{Faults: f, Stats: s})
		}, http.MethodGet, "/legacy/lagfart/" + w.Properties[0].ObjectID, nil},
		"avfall": {"avfall", "avfall", func(f *Faults, s *Stats) http.Handler {
			return NewAvfall(w, AvfallOptions{Faults: f, Stats: s})
		}, http.MethodGet, "/api/v1/pickups?propertyIds=" + w.Properties[0].ObjectID + "," + w.Properties[1].ObjectID, nil},
	}
}

// serve starts the target behind faults configured with cfg.
func (ft faultTarget) serve(t *testing.T, cfg FaultConfig) (*httptest.Server, *Stats) {
	t.Helper()
	f, stats := NewFaults(), NewStats()
	f.Set(cfg)
	srv := httptest.NewServer(ft.newHandler(f, stats))
	t.Cleanup(srv.Close)
	return srv, stats
}

// do calls the target; err is the transport error, if any.
func (ft faultTarget) do(ctx context.Context, base string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, ft.method, base+ft.path, bytes.NewReader(ft.body))
	if err != nil {
		return nil, nil, err
	}
	if ft.body != nil {
		req.Header.Set("SOAPAction", soap.NavetAction)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp, raw, err
}

func (ft faultTarget) mustDo(t *testing.T, base string) (*http.Response, []byte) {
	t.Helper()
	resp, raw, err := ft.do(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

func TestFaultConfigJSON(t *testing.T) {
	full := FaultConfig{
		Latency: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, ErrorRate: 0.1, TimeoutRate: 0.2,
		MalformedRate: 0.3, Malformed: MalformedHuge, Down: true, SOAPFaultsWith200: true,
	}
	b, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"latency":"20ms"`)) || !bytes.Contains(b, []byte(`"jitter":"5ms"`)) {
		t.Errorf("durations are not Go duration strings: %s", b)
	}
	var back FaultConfig
	if err := json.Unmarshal(b, &back); err != nil || back != full {
		t.Errorf("round trip = %+v, %v; want %+v", back, err, full)
	}

	tests := []struct {
		name, in string
		want     FaultConfig
		wantErr  string // substring of the decode or validation error
	}{
		{"empty", `{}`, FaultConfig{}, ""},
		{"latency only", `{"latency":"1.5s"}`, FaultConfig{Latency: 1500 * time.Millisecond}, ""},
		{"unknown field", `{"latency":"1s","errorrate":1}`, FaultConfig{}, "unknown field"},
		{"bad duration", `{"latency":"soon"}`, FaultConfig{}, "latency"},
		{"number for a duration", `{"latency":20}`, FaultConfig{}, "latency"},
		{"rate over 1", `{"errorRate":2}`, FaultConfig{}, "errorRate"},
		{"negative jitter", `{"jitter":"-1ms"}`, FaultConfig{}, "jitter"},
		{"unknown malformed kind", `{"malformedRate":1,"malformed":"gzip"}`, FaultConfig{}, "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c FaultConfig
			err := json.Unmarshal([]byte(tc.in), &c)
			if err == nil {
				err = c.Validate()
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want one about %s", err, tc.wantErr)
			case tc.wantErr == "" && c != tc.want:
				t.Errorf("config = %+v, want %+v", c, tc.want)
			}
		})
	}
}

func TestFaultsLatency(t *testing.T) {
	ft := faultTargets(t)["etjanst"]

	t.Run("a client deadline cuts the latency short", func(t *testing.T) {
		srv, _ := ft.serve(t, FaultConfig{Latency: 200 * time.Millisecond})
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := ft.do(ctx, srv.URL)
		elapsed := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want a deadline error", err)
		}
		if elapsed >= 150*time.Millisecond {
			t.Errorf("the request took %v, want < 150ms", elapsed)
		}
	})
	t.Run("latency delays the answer", func(t *testing.T) {
		srv, _ := ft.serve(t, FaultConfig{Latency: 40 * time.Millisecond, Jitter: 10 * time.Millisecond})
		start := time.Now()
		resp, _ := ft.mustDo(t, srv.URL)
		if elapsed := time.Since(start); elapsed < 40*time.Millisecond || resp.StatusCode != 200 {
			t.Errorf("status %d after %v, want 200 after at least 40ms", resp.StatusCode, elapsed)
		}
	})
}

func TestFaultsErrorRate(t *testing.T) {
	targets := faultTargets(t)
	tests := []struct {
		target     string
		with200    bool
		wantStatus int
		check      func(t *testing.T, h http.Header, raw []byte)
	}{
		{"etjanst", false, 503, checkProblem(503)},
		{"geodata", false, 503, checkProblem(503)},
		{"avfall", false, 503, checkProblem(503)},
		{"navet", false, 500, checkSOAPFault(soap.FelkodTeknisktFel)},
		{"navet", true, 200, checkSOAPFault(soap.FelkodTeknisktFel)},
		{"lagfart", false, 503, func(t *testing.T, h http.Header, raw []byte) {
			var e xmlErrorBody
			if err := xml.Unmarshal(raw, &e); err != nil || e.Kod != 503 || !strings.HasPrefix(h.Get("Content-Type"), "application/xml") {
				t.Errorf("body %s (%v), Content-Type %q", raw, err, h.Get("Content-Type"))
			}
		}},
	}
	for _, tc := range tests {
		name := tc.target
		if tc.with200 {
			name += " with SOAP faults as 200"
		}
		t.Run(name, func(t *testing.T) {
			ft := targets[tc.target]
			srv, stats := ft.serve(t, FaultConfig{ErrorRate: 1, SOAPFaultsWith200: tc.with200})
			resp, raw := ft.mustDo(t, srv.URL)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			tc.check(t, resp.Header, raw)
			if got := stats.Calls(ft.system, "fault:error"); got != 1 {
				t.Errorf("fault:error calls = %d, want 1", got)
			}
		})
	}
}

func checkProblem(status int) func(*testing.T, http.Header, []byte) {
	return func(t *testing.T, h http.Header, raw []byte) {
		t.Helper()
		wantProblem(t, status, h, raw, status)
	}
}

func checkSOAPFault(felkod string) func(*testing.T, http.Header, []byte) {
	return func(t *testing.T, h http.Header, raw []byte) {
		t.Helper()
		var env soap.Envelope
		if err := xml.Unmarshal(raw, &env); err != nil || env.Body.Fault == nil || env.Body.Fault.Detail == nil ||
			env.Body.Fault.Detail.Felkod != felkod || env.Body.Fault.FaultCode != "soap:Server" {
			t.Errorf("want SOAP fault %s, got %s (%v)", felkod, raw, err)
		}
		if ct := h.Get("Content-Type"); ct != "text/xml; charset=utf-8" {
			t.Errorf("Content-Type = %q", ct)
		}
	}
}

func TestFaultsTimeout(t *testing.T) {
	for _, name := range []string{"etjanst", "navet", "avfall"} {
		t.Run(name, func(t *testing.T) {
			ft := faultTargets(t)[name]
			srv, _ := ft.serve(t, FaultConfig{TimeoutRate: 1})
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, _, err := ft.do(ctx, srv.URL)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want a deadline error", err)
			}
			if elapsed := time.Since(start); elapsed >= 150*time.Millisecond {
				t.Errorf("the request took %v", elapsed)
			}
		})
	}
}

func hasDirective(raw []byte) bool {
	dec := xml.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if d, ok := tok.(xml.Directive); ok {
			return bytes.HasPrefix(d, []byte("DOCTYPE")) && bytes.Contains(d, []byte("<!ENTITY"))
		}
	}
}

func TestFaultsMalformed(t *testing.T) {
	targets := faultTargets(t)
	notJSON := func(t *testing.T, raw []byte) {
		t.Helper()
		var v any
		if json.Unmarshal(raw, &v) == nil {
			t.Errorf("body is valid JSON: %.200s", raw)
		}
	}
	tests := []struct {
		target, kind string
		wantType     string
		check        func(t *testing.T, raw, normal []byte)
	}{
		{"etjanst", MalformedHTML, "text/html; charset=utf-8", func(t *testing.T, raw, _ []byte) {
			notJSON(t, raw)
			if !bytes.HasPrefix(raw, []byte("<!DOCTYPE html>")) {
				t.Errorf("not an HTML page: %.200s", raw)
			}
		}},
		{"navet", MalformedHTML, "text/html; charset=utf-8", func(t *testing.T, raw, _ []byte) {
			if !bytes.Contains(raw, []byte("<html>")) {
				t.Errorf("not an HTML page: %.200s", raw)
			}
		}},
		{"etjanst", MalformedTruncated, "application/json", func(t *testing.T, raw, normal []byte) {
			notJSON(t, raw)
			if len(raw) != len(normal)/2 || !bytes.HasPrefix(normal, raw) {
				t.Errorf("got %d bytes, want the first %d of the normal body", len(raw), len(normal)/2)
			}
		}},
		{"avfall", MalformedTruncated, "application/json", func(t *testing.T, raw, normal []byte) {
			notJSON(t, raw)
			if len(raw) != len(normal)/2 || !bytes.HasPrefix(normal, raw) {
				t.Errorf("got %d bytes, want the first %d of the normal body", len(raw), len(normal)/2)
			}
		}},
		{"avfall", MalformedHTML, "text/html; charset=utf-8", func(t *testing.T, raw, _ []byte) {
			notJSON(t, raw)
			if !bytes.Contains(raw, []byte("could not reach avfall")) {
				t.Errorf("not the proxy's page for avfall: %.300s", raw)
			}
		}},
		{"geodata", MalformedTruncated, "application/geo+json", func(t *testing.T, raw, normal []byte) {
			notJSON(t, raw)
			if len(raw) != len(normal)/2 || !bytes.HasPrefix(normal, raw) {
				t.Errorf("got %d bytes, want the first %d of the normal body", len(raw), len(normal)/2)
			}
		}},
		{"navet", MalformedTruncated, "text/xml; charset=utf-8", func(t *testing.T, raw, normal []byte) {
			if len(raw) != len(normal)/2 || !bytes.HasPrefix(normal, raw) {
				t.Errorf("got %d bytes, want the first %d of the normal body", len(raw), len(normal)/2)
			}
			if xml.Unmarshal(raw, new(soap.Envelope)) == nil {
				t.Errorf("truncated SOAP parses")
			}
		}},
		{"navet", MalformedDoctype, "text/xml; charset=utf-8", func(t *testing.T, raw, normal []byte) {
			if !hasDirective(raw) || !bytes.Contains(raw, []byte("<!DOCTYPE soap:Envelope [")) {
				t.Errorf("no DOCTYPE with entities: %.300s", raw)
			}
			// Everything but the DOCTYPE is the normal answer.
			_, after, _ := bytes.Cut(normal, []byte("?>"))
			if !bytes.HasSuffix(raw, after) {
				t.Errorf("the normal answer does not follow the DOCTYPE: %.300s", raw)
			}
		}},
		{"lagfart", MalformedDoctype, "application/xml; charset=utf-8", func(t *testing.T, raw, _ []byte) {
			if !hasDirective(raw) || !bytes.Contains(raw, []byte("<!DOCTYPE Lagfartsinformation [")) {
				t.Errorf("no DOCTYPE with entities: %.300s", raw)
			}
		}},
		{"etjanst", MalformedDoctype, "application/xml; charset=utf-8", func(t *testing.T, raw, _ []byte) {
			notJSON(t, raw)
			if !hasDirective(raw) {
				t.Errorf("no DOCTYPE with entities: %.300s", raw)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.target+" "+tc.kind, func(t *testing.T) {
			ft := targets[tc.target]
			healthy, _ := ft.serve(t, FaultConfig{})
			_, normal := ft.mustDo(t, healthy.URL)

			srv, stats := ft.serve(t, FaultConfig{MalformedRate: 1, Malformed: tc.kind})
			resp, raw := ft.mustDo(t, srv.URL)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status = %d, want 200", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", ct, tc.wantType)
			}
			tc.check(t, raw, normal)
			if got := stats.Calls(ft.system, "fault:"+tc.kind); got != 1 {
				t.Errorf("fault:%s calls = %d, want 1", tc.kind, got)
			}
		})
	}
}

func TestFaultsHugeBody(t *testing.T) {
	targets := faultTargets(t)
	for _, tc := range []struct{ target, wantType, wantStart string }{
		{"etjanst", "application/json", `{"padding":"xxx`},
		{"navet", "text/xml; charset=utf-8", `<?xml version="1.0" encoding="UTF-8"?>`},
	} {
		t.Run(tc.target, func(t *testing.T) {
			ft := targets[tc.target]
			srv, _ := ft.serve(t, FaultConfig{MalformedRate: 1, Malformed: MalformedHuge})
			req, _ := http.NewRequestWithContext(t.Context(), ft.method, srv.URL+ft.path, bytes.NewReader(ft.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); ct != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", ct, tc.wantType)
			}
			start := make([]byte, len(tc.wantStart))
			if _, err := io.ReadFull(resp.Body, start); err != nil || string(start) != tc.wantStart {
				t.Errorf("body starts %q (%v), want %q", start, err, tc.wantStart)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if total := n + int64(len(start)); total < 50<<20 {
				t.Errorf("body is %d bytes, want at least 50 MiB", total)
			}
		})
	}
}

func TestFaultsDown(t *testing.T) {
	for _, name := range []string{"etjanst", "navet", "lagfart", "avfall"} {
		t.Run(name, func(t *testing.T) {
			ft := faultTargets(t)[name]
			srv, stats := ft.serve(t, FaultConfig{Down: true})
			resp, _, err := ft.do(t.Context(), srv.URL)
			if err == nil {
				t.Fatalf("got status %d, want the connection closed", resp.StatusCode)
			}
			if got := stats.Calls(ft.system, "fault:down"); got < 1 {
				t.Errorf("fault:down calls = %d", got)
			}
		})
	}
}

func TestStart(t *testing.T) {
	run, err := Start(t.Context(), Options{World: httpTestWorld()})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	w := run.World

	t.Run("each system answers", func(t *testing.T) {
		a := callNavet(t, run.NavetURL+"/personpost", soap.NavetAction, personpostEnvelope(t, DefaultOrder, w.People[0].PersonalNumber))
		if a.post == nil || a.post.Personpost.PersonID.PersonNr != w.People[0].PersonalNumber {
			t.Errorf("navet answered %s", a.body)
		}
		var e rest.ErrandDTO
		getInto(t, run.ETjanstURL+"/api/v1/errands/"+w.Errands[0].ErrandNumber, &e)
		if e.ErrandNumber != w.Errands[0].ErrandNumber {
			t.Errorf("etjanst answered %+v", e)
		}
		var f rest.Feature
		getInto(t, run.GeodataURL+"/collections/fastigheter/items/"+w.Properties[0].ObjectID, &f)
		if f.ID != w.Properties[0].ObjectID {
			t.Errorf("geodata answered %+v", f)
		}
		var p PickupDTO
		getInto(t, run.AvfallURL+"/api/v1/pickups/"+w.Pickups[0].ID, &p)
		if p.ID != w.Pickups[0].ID || p.PropertyID != w.Pickups[0].PropertyID {
			t.Errorf("avfall answered %+v", p)
		}
	})
	t.Run("stats are shared", func(t *testing.T) {
		for _, base := range []string{run.NavetURL, run.ETjanstURL, run.GeodataURL, run.AvfallURL} {
			var got map[string]map[string]Counter
			getInto(t, base+"/__stats", &got)
			if !reflect.DeepEqual(got, run.Stats.Snapshot()) || got["folkbokforing"]["PersonpostXML"].Calls == 0 ||
				got["etjanst"]["getErrand"].Calls == 0 || got["geodata"]["item"].Calls == 0 || got["avfall"]["pickup"].Calls == 0 {
				t.Errorf("%s/__stats = %+v", base, got)
			}
		}
	})
	t.Run("faults round trip", func(t *testing.T) {
		put := `{"latency":"2s","jitter":"0s","errorRate":0,"timeoutRate":0,"malformedRate":0.5,"malformed":"truncated","down":false,"soapFaultsWith200":true}`
		status, _, raw := doJSON(t, http.MethodPut, run.ETjanstURL+"/__faults", []byte(put))
		if status != 200 {
			t.Fatalf("PUT /__faults: %d %s", status, raw)
		}
		want := FaultConfig{Latency: 2 * time.Second, MalformedRate: 0.5, Malformed: MalformedTruncated, SOAPFaultsWith200: true}
		var got FaultConfig
		getInto(t, run.ETjanstURL+"/__faults", &got)
		if got != want || run.ETjanstFaults.Get() != want {
			t.Errorf("GET /__faults = %+v, Get = %+v, want %+v", got, run.ETjanstFaults.Get(), want)
		}
		if run.NavetFaults.Get() != (FaultConfig{}) || run.GeodataFaults.Get() != (FaultConfig{}) || run.AvfallFaults.Get() != (FaultConfig{}) {
			t.Errorf("the other systems' faults changed")
		}

		// The control endpoints are not delayed by the 2 s latency.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, run.ETjanstURL+"/__stats", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("/__stats under latency: %v", err)
		}
		resp.Body.Close()

		status, h, raw := doJSON(t, http.MethodPut, run.ETjanstURL+"/__faults", []byte(`{"latency":"1ms","lateny":"2s"}`))
		wantProblem(t, status, h, raw, http.StatusBadRequest)
		if run.ETjanstFaults.Get() != want {
			t.Errorf("a rejected PUT changed the faults")
		}
		run.ETjanstFaults.Set(FaultConfig{})
	})
	t.Run("close", func(t *testing.T) {
		if err := run.Close(); err != nil {
			t.Fatal(err)
		}
		if err := run.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, run.ETjanstURL+"/__stats", nil)
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		if resp, err := (&http.Client{Transport: tr}).Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("the server still answers after Close")
		}
	})
}

func TestStartOptions(t *testing.T) {
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := Start(ctx, Options{People: 50}); err == nil {
			t.Fatal("Start with a cancelled context succeeded")
		}
	})
	t.Run("initial latency and own stats", func(t *testing.T) {
		stats := NewStats()
		run, err := Start(t.Context(), Options{Seed: 9, People: 50, Latency: 5 * time.Millisecond, Stats: stats})
		if err != nil {
			t.Fatal(err)
		}
		defer run.Close()
		if run.Stats != stats || run.World == nil || len(run.World.People) < 50 {
			t.Errorf("Running = %+v", run)
		}
		for _, f := range []*Faults{run.NavetFaults, run.ETjanstFaults, run.GeodataFaults, run.AvfallFaults} {
			if f.Get().Latency != 5*time.Millisecond {
				t.Errorf("latency = %v", f.Get().Latency)
			}
		}
	})
	t.Run("address in use", func(t *testing.T) {
		first, err := Start(t.Context(), Options{World: httpTestWorld()})
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		etjanst := strings.TrimPrefix(first.ETjanstURL, "http://")
		if run, err := Start(t.Context(), Options{World: httpTestWorld(), ETjanstAddr: etjanst}); err == nil {
			run.Close()
			t.Fatal("Start on a taken address succeeded")
		}
		// The last system's address taken: the three listeners opened before it are closed again.
		avfall := strings.TrimPrefix(first.AvfallURL, "http://")
		free := make([]string, 3)
		for i := range free {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			free[i] = ln.Addr().String()
			ln.Close()
		}
		run, err := Start(t.Context(), Options{World: httpTestWorld(), NavetAddr: free[0], ETjanstAddr: free[1], GeodataAddr: free[2], AvfallAddr: avfall})
		if err == nil {
			run.Close()
			t.Fatal("Start on a taken avfall address succeeded")
		}
		if !strings.Contains(err.Error(), "start avfall") {
			t.Errorf("error %q does not name the system", err)
		}
		for _, addr := range free {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Errorf("%s is still held after the failed Start: %v", addr, err)
				continue
			}
			ln.Close()
		}
	})
}
