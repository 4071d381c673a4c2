package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/kommungraf/kommungraf/graph/declared"
	"github.com/kommungraf/kommungraf/sources/sim"
)

// A person's receipts (Person.receipts, a batch-form list) are declared in
// schema/etjanst.yaml; their type, Receipt, carries its purpose in its case
// type (@row). These tests run them through the production configuration
// (authorization on, the demo's policy and record cache) as two callers of
// different purposes: the bygglov case officer and the social secretary.

// receiptQuery asks for a person's receipts and nothing else of the person,
// so that a person whose receipts are all hidden answers byte for byte as
// one without receipts.
const receiptQuery = `{ person(personalNumber: %q) { receipts { receiptNumber caseType } } }`

// noReceipts is the answer for a person without receipts.
const noReceipts = `{"data":{"person":{"receipts":[]}}}`

type receipt struct {
	ReceiptNumber string  `json:"receiptNumber"`
	CaseType      *string `json:"caseType"`
}

// worldReceipts are the receipts the e-service platform gives each person
// in w, oldest first: one per errand the person applied for through the
// e-service (as the simulator issues them).
func worldReceipts(w *sim.World) map[string][]receipt {
	type dated struct {
		r  receipt
		at int64
	}
	by := map[string][]dated{}
	for _, e := range w.Errands {
		if e.Channel != "E_SERVICE" || len(e.Stakeholders) == 0 {
			continue
		}
		pnr := w.PersonOfParty[e.Stakeholders[0].PartyID]
		r := receipt{ReceiptNumber: "KV-" + e.ErrandNumber}
		if e.CaseType != "" {
			r.CaseType = &e.CaseType
		}
		by[pnr] = append(by[pnr], dated{r, e.SubmittedAt.UnixNano()})
	}
	out := map[string][]receipt{}
	for pnr, ds := range by {
		sort.Slice(ds, func(i, j int) bool { return ds[i].at < ds[j].at })
		for _, d := range ds {
			out[pnr] = append(out[pnr], d.r)
		}
	}
	return out
}

// receiptPerson is an unprotected person of w whose receipts pass want
// (the case types, oldest first), sorted by personnummer for a stable pick.
func receiptPerson(t *testing.T, w *sim.World, want func(caseTypes []string) bool) string {
	t.Helper()
	rs := worldReceipts(w)
	var pnrs []string
	for pnr, p := range w.ByPNR {
		if isProtected(p) {
			continue
		}
		var cts []string
		for _, r := range rs[pnr] {
			ct := ""
			if r.CaseType != nil {
				ct = *r.CaseType
			}
			cts = append(cts, ct)
		}
		if want(cts) {
			pnrs = append(pnrs, pnr)
		}
	}
	if len(pnrs) == 0 {
		t.Fatal("no such person in the test world")
	}
	slices.Sort(pnrs)
	return pnrs[0]
}

func only(cts []string, caseType string) bool {
	return len(cts) > 0 && !slices.ContainsFunc(cts, func(c string) bool { return c != caseType })
}

// readReceipts decodes a receipts answer.
func readReceipts(t *testing.T, raw []byte) []receipt {
	t.Helper()
	var r struct {
		Data struct {
			Person struct{ Receipts []receipt }
		}
		Errors []gqlError
	}
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Errors) > 0 {
		t.Fatalf("answer %s (%v)", raw, err)
	}
	return r.Data.Person.Receipts
}

func ofCaseType(rs []receipt, caseType string) []receipt {
	out := []receipt{}
	for _, r := range rs {
		if r.CaseType != nil && *r.CaseType == caseType {
			out = append(out, r)
		}
	}
	return out
}

func sameReceipts(a, b []receipt) bool {
	return slices.EqualFunc(a, b, func(x, y receipt) bool {
		return x.ReceiptNumber == y.ReceiptNumber && (x.CaseType == nil) == (y.CaseType == nil) && (x.CaseType == nil || *x.CaseType == *y.CaseType)
	})
}

// deniedAt says the access log entry e records a denial of field (a
// "Type.field") at some path.
func deniedAt(e []string, field string) bool {
	return slices.ContainsFunc(e, func(d string) bool { return strings.HasPrefix(d, field+"@") })
}

// TestDeclaredRowsOutsideThePurposeDoNotExist: each caller reads the
// receipts of its own purpose only; a person whose receipts are all of
// another purpose answers byte for byte as a person without receipts (the
// list [] as loaders.List answers no records), also when the records come from the record cache that an
// allowed caller filled; the access log records the denials for security
// staff.
func TestDeclaredRowsOutsideThePurposeDoNotExist(t *testing.T) {
	d := newSecureDemo(t)
	w := testWorld()
	rs := worldReceipts(w)
	mixed := receiptPerson(t, w, func(cts []string) bool {
		return slices.Contains(cts, "BYGGLOV") && slices.Contains(cts, "EKONOMISKT_BISTAND")
	})
	ekb := receiptPerson(t, w, func(cts []string) bool { return only(cts, "EKONOMISKT_BISTAND") })
	none := receiptPerson(t, w, func(cts []string) bool { return len(cts) == 0 })

	t.Run("a list holds the caller's rows", func(t *testing.T) {
		all := rs[mixed]
		for persona, caseType := range map[string]string{"case-officer": "BYGGLOV", "social-secretary": "EKONOMISKT_BISTAND"} {
			list := readReceipts(t, postAs(t, d, persona, "receipts-mixed-"+persona, fmt.Sprintf(receiptQuery, mixed)))
			if want := ofCaseType(all, caseType); !sameReceipts(list, want) {
				t.Errorf("%s: receipts %+v, want the %s ones %+v of %+v", persona, list, caseType, want, all)
			}
		}
	})

	t.Run("callers of both purposes at once each get their own rows", func(t *testing.T) {
		// The record cache and the loaders are shared by concurrent
		// requests; the filtering is each request's own.
		want := map[string][]receipt{
			"case-officer":     ofCaseType(rs[mixed], "BYGGLOV"),
			"social-secretary": ofCaseType(rs[mixed], "EKONOMISKT_BISTAND"),
		}
		auth := map[string]string{}
		for persona := range want {
			auth[persona] = "Bearer " + d.token(t, persona)
		}
		body, _ := json.Marshal(map[string]any{"query": fmt.Sprintf(receiptQuery, mixed)})
		var wg sync.WaitGroup
		errs := make(chan string, 32)
		for i := range 32 {
			persona := "case-officer"
			if i%2 == 1 {
				persona = "social-secretary"
			}
			wg.Add(1)
			go func() { // no t.Fatal off the test's goroutine: errs
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, d.srv.URL+"/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", auth[persona])
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				defer resp.Body.Close()
				raw, _ := io.ReadAll(resp.Body)
				var r struct {
					Data struct{ Person struct{ Receipts []receipt } }
				}
				if err := json.Unmarshal(raw, &r); err != nil || !sameReceipts(r.Data.Person.Receipts, want[persona]) {
					errs <- fmt.Sprintf("%s: %s", persona, raw)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	})

	t.Run("another purpose's rows answer as no rows, from the cache too", func(t *testing.T) {
		// The social secretary's read fills the record cache with the
		// person's receipts.
		if list := readReceipts(t, postAs(t, d, "social-secretary", "receipts-allowed", fmt.Sprintf(receiptQuery, ekb))); !sameReceipts(list, rs[ekb]) {
			t.Fatalf("social secretary: receipts %+v, want %+v", list, rs[ekb])
		}
		denied := postAs(t, d, "case-officer", "receipts-denied", fmt.Sprintf(receiptQuery, ekb))
		calls := d.gw.Sim().Stats.Request("receipts-denied")["etjanst"]
		if calls["listReceipts"].Calls != 0 {
			t.Fatalf("the case officer's read called the platform (%v): the records were to come from the cache", calls)
		}
		absent := postAs(t, d, "case-officer", "receipts-none", fmt.Sprintf(receiptQuery, none))
		if string(denied) != noReceipts || string(absent) != string(denied) {
			t.Fatalf("hidden receipts answer\n%s\na person without receipts\n%s\nwant both %s", denied, absent, noReceipts)
		}
		if e := accessEntry(t, d, "receipts-denied"); !deniedAt(e.Denied, "Person.receipts") {
			t.Fatalf("access log entry %+v: want the hidden receipts recorded as denied", e)
		}
		if e := accessEntry(t, d, "receipts-none"); len(e.Denied) != 0 {
			t.Fatalf("access log entry %+v: a person without receipts is no denial", e)
		}
	})
}

// TestDeclaredRowWithoutValueIsReadByNoOne: a receipt whose case type is
// null names no purpose and is read by no one (fail closed): the case
// officer, who reads the person's bygglov receipts, does not get it.
func TestDeclaredRowWithoutValueIsReadByNoOne(t *testing.T) {
	w := sim.NewWorld(sim.WorldOptions{Seed: 11, People: 3000}) // as testWorld, a copy of our own
	pnr := receiptPerson(t, w, func(cts []string) bool { return len(cts) >= 2 && only(cts, "BYGGLOV") })
	before := worldReceipts(w)[pnr]
	last := before[len(before)-1]
	w.ByErrand[strings.TrimPrefix(last.ReceiptNumber, "KV-")].CaseType = "" // the platform answers no caseType
	d := startDemoIn(t, w, nil, 0, false)

	list := readReceipts(t, postAs(t, d, "case-officer", "receipt-null", fmt.Sprintf(receiptQuery, pnr)))
	if want := before[:len(before)-1]; !sameReceipts(list, want) {
		t.Fatalf("receipts %+v; want %+v (%s has no case type)", list, want, last.ReceiptNumber)
	}
	if e := accessEntry(t, d, "receipt-null"); !deniedAt(e.Denied, "Person.receipts") {
		t.Fatalf("access log entry %+v: want the receipt without a case type recorded as denied", e)
	}
}

// TestStartRefusesARowTypeOnAListing: a listing (http.page) of a @row type
// stops the start, located, with the reason: its upstream counts and pages
// the rows the gateway would remove.
func TestStartRefusesARowTypeOnAListing(t *testing.T) {
	good, err := os.ReadFile("../../../../schema/etjanst.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good),
		`      batch:
        post: api/v1/receipts/search
        body: { personalNumbers: "{keys}" }
        idempotent: true            # the search only reads
        maxKeys: 100`,
		`      one: { get: "api/v1/persons/{key}/receipts" }
      page: { style: limit+page, size: 50, maxPages: 4 }`, 1)
	if bad == string(good) {
		t.Fatal("schema/etjanst.yaml no longer has the receipts' batch form")
	}
	line := 1 + strings.Count(bad[:strings.Index(bad, "      page: {")], "\n") // the page part
	failStart(t, startCase{
		name:         "a listing of a @row type",
		declarations: withFile(declared.Files(), "schema/etjanst.yaml", []byte(bad)),
		want: []string{fmt.Sprintf("schema/etjanst.yaml:%d: resource etjanst.receipts: type Receipt has @row, and a listing cannot serve it: "+
			"the upstream counts and pages the rows before the gateway removes those the caller may not read", line)},
	})
}

// TestStartRefusesASingleRowOfARowType: a person's latest receipt, a single
// row the platform chooses among the person's receipts, stops the start,
// located, with the reason. Served, it answered the case officer null for a
// person whose newest receipt was an application for economic assistance,
// beside the bygglov receipt that would otherwise have been the latest: the
// null told that a hidden receipt exists.
func TestStartRefusesASingleRowOfARowType(t *testing.T) {
	good, err := os.ReadFile("../../../../schema/etjanst.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const latest = `  latestReceipt:
    type: Receipt
    list: false
    http:
      one: { get: "api/v1/persons/{key}/receipts/latest" }
      records: receipt
    fields:
      receiptNumber: receiptNumber
      personalNumber: personalNumber
      caseType: caseType
      submittedAt: submittedAt
    subjects:
      - personalNumber: personalNumber
`
	at := strings.Index(string(good), "# What the owner promises")
	if at < 0 {
		t.Fatal("schema/etjanst.yaml no longer ends with its availability")
	}
	bad := string(good[:at]) + latest + string(good[at:])
	line := 1 + strings.Count(bad[:strings.Index(bad, latest)], "\n") + 2 // its list key
	failStart(t, startCase{
		name:         "a single row of a @row type",
		declarations: withFile(declared.Files(), "schema/etjanst.yaml", []byte(bad)),
		want: []string{fmt.Sprintf("schema/etjanst.yaml:%d: resource etjanst.latestReceipt: type Receipt has @row, and a single row (list: false) cannot serve it: "+
			"the upstream chooses the key's row before the gateway removes one the caller may not read", line)},
	})
}
