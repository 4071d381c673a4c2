package admin

import (
	"encoding/csv"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/authz"
)

// TestAccessLogCSVNeutralisesFormulas: a value a spreadsheet would run as a
// formula gets a leading apostrophe; other values are left alone.
func TestAccessLogCSVNeutralisesFormulas(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "\rx": "'\rx", "demo-case-officer": "demo-case-officer", "": "", "a=b": "a=b",
	} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
	rec := httptest.NewRecorder()
	at := time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)
	writeAccessLogCSV(rec, []authz.AccessEntry{{
		Time: at, Subject: "=cmd|' /C calc'!A0", Client: "bygglov-app", Purposes: []string{"bygglov"},
		Operation: "LookUp", Fields: []string{"Person.givenName", "Query.person"}, Denied: []string{"Person.address@person.address"}, RequestID: "r1",
	}}, at)
	if cd := rec.Header().Get("Content-Disposition"); cd != `attachment; filename="registerutdrag-20260701-120000.csv"` {
		t.Errorf("Content-Disposition %q (the name is Stockholm time)", cd)
	}
	rows, err := csv.NewReader(strings.NewReader(rec.Body.String())).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("%v: %q", err, rec.Body.String())
	}
	want := []string{"2026-07-01T12:00:00+02:00", "'=cmd|' /C calc'!A0", "", "bygglov-app", "bygglov", "LookUp",
		"Person.givenName Query.person", "Person.address@person.address", "r1"}
	if strings.Join(rows[1], "\x00") != strings.Join(want, "\x00") {
		t.Errorf("row\n got %q\nwant %q", rows[1], want)
	}
}
