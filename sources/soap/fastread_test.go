package soap

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/upstream"
)

// answers are registry answers of the shapes the simulator and the real
// service send, for the fast reader's tests and as the fuzzer's seeds.
func answers(t testing.TB) map[string][]byte {
	t.Helper()
	marshal := func(f Folkbokforingspost) []byte {
		b, err := Marshal(PersonpostResponse{NS: NavetNamespace, Folkbokforingspost: f})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	full := Folkbokforingspost{Sekretessmarkering: "N", SkyddadFolkbokforing: "N", Personpost: Personpost{
		PersonID: PersonID{"198112189876"}, Namn: Namn{Fornamn: "Åsa Lisa", Mellannamn: "Ödmark", Efternamn: "Ängström"},
		Folkbokforingsadress: &Adress{"Storgatan 1", "702 10", "ÖREBRO"},
		Relationer:           Relationer{Relation: []Relation{{PersonID{"201001011234"}, "B"}, {PersonID{"197001011234"}, "M"}}},
	}}
	protected := Folkbokforingspost{Sekretessmarkering: "J", SkyddadFolkbokforing: "J", Personpost: Personpost{
		PersonID: PersonID{"199001011239"}, Namn: Namn{Fornamn: "Test", Efternamn: "Testsson"},
		Formedlingsadress: &Adress{"Box 2820", "403 20", "GÖTEBORG"},
		Avregistrering:    &Avregistrering{"20251231", "UV"},
	}}
	simple := marshal(full)
	out := map[string][]byte{
		"full":      simple,
		"protected": marshal(protected),
		"empty":     marshal(Folkbokforingspost{}),
		"indented": []byte(`<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Header><x:Trace xmlns:x="urn:x" id="1">abc</x:Trace></s:Header>
  <s:Body>
    <n:PersonpostXMLResponse xmlns:n="` + NavetNamespace + `">
      <n:Folkbokforingspost>
        <n:Sekretessmarkering>N</n:Sekretessmarkering>
        <n:SkyddadFolkbokforing>N</n:SkyddadFolkbokforing>
        <n:Personpost>
          <n:PersonId><n:PersonNr>198112189876</n:PersonNr></n:PersonId>
          <n:Namn><n:Fornamn>Anna</n:Fornamn><n:Mellannamn/><n:Efternamn>Berg</n:Efternamn></n:Namn>
          <n:Kon>K</n:Kon>
          <n:Folkbokforingsadress/>
          <n:Relationer><n:Relation/><n:Relation><n:Relationstyp>V</n:Relationstyp></n:Relation></n:Relationer>
        </n:Personpost>
      </n:Folkbokforingspost>
    </n:PersonpostXMLResponse>
    <Extra>ignored</Extra>
  </s:Body>
</s:Envelope>`),
	}
	// What the fast reader leaves to encoding/xml.
	for name, edit := range map[string]func(string) string{
		"entity":          func(s string) string { return strings.Replace(s, "Storgatan 1", "Storgatan &amp; 1", 1) },
		"character ref":   func(s string) string { return strings.Replace(s, ">N<", ">&#74;<", 1) },
		"comment":         func(s string) string { return strings.Replace(s, "<Namn>", "<Namn><!-- x -->", 1) },
		"cdata":           func(s string) string { return strings.Replace(s, ">N<", "><![CDATA[N]]><", 1) },
		"carriage return": func(s string) string { return strings.Replace(s, "Storgatan 1", "Storgatan\r1", 1) },
		"repeated flag": func(s string) string {
			return strings.Replace(s, "<SkyddadFolkbokforing>N", "<SkyddadFolkbokforing>J</SkyddadFolkbokforing><SkyddadFolkbokforing>N", 1)
		},
		"mismatched tag": func(s string) string { return strings.Replace(s, "</Fornamn>", "</Efternamn>", 1) },
		"fault": func(s string) string {
			return strings.Replace(s, "</soap:Body>", "<soap:Fault><faultcode>x</faultcode></soap:Fault></soap:Body>", 1)
		},
		"doctype":           func(s string) string { return strings.Replace(s, "?>", "?><!DOCTYPE x>", 1) },
		"latin-1":           func(s string) string { return strings.Replace(s, `encoding="UTF-8"`, `encoding="ISO-8859-1"`, 1) },
		"element in text":   func(s string) string { return strings.Replace(s, "Åsa Lisa", "Åsa<b/>Lisa", 1) },
		"answer not first":  func(s string) string { return strings.Replace(s, "<soap:Body>", "<soap:Body><Annat/>", 1) },
		"two bodies":        func(s string) string { return strings.Replace(s, "</soap:Body>", "</soap:Body><soap:Body/>", 1) },
		"invalid utf-8":     func(s string) string { return strings.Replace(s, "Ängström", "\xff", 1) },
		"control character": func(s string) string { return strings.Replace(s, "Ängström", "\x01", 1) },
		"unquoted attr":     func(s string) string { return strings.Replace(s, `xmlns:soap="`, `a=b xmlns:soap="`, 1) },
		"odd name":          func(s string) string { return strings.Replace(s, "<Namn>", "<Na:m:n/><Namn>", 1) },
	} {
		out[name] = []byte(edit(string(simple)))
	}
	return out
}

// slowAnswer is the answer as encoding/xml reads it.
func slowAnswer(body []byte) (PersonpostResponse, string, *Fault, error) {
	var out PersonpostResponse
	env := personpostEnvelope{Body: personpostBody{Response: &out}}
	err := upstream.DecodeXML(body, &env)
	return out, env.Body.First, env.Body.Fault, err
}

// TestFastAnswer: the fast reader reads the usual answers, exactly as
// encoding/xml does, and gives up on the others.
func TestFastAnswer(t *testing.T) {
	fast := map[string]bool{"full": true, "protected": true, "empty": true, "indented": true}
	for name, body := range answers(t) {
		t.Run(name, func(t *testing.T) {
			var got PersonpostResponse
			ok := fastAnswer(body, &got)
			if ok != fast[name] {
				t.Fatalf("fastAnswer = %v, want %v", ok, fast[name])
			}
			if !ok {
				return
			}
			want, first, fault, err := slowAnswer(body)
			if err != nil || first != "PersonpostXMLResponse" || fault != nil {
				t.Fatalf("encoding/xml: %v, first %q, fault %v", err, first, fault)
			}
			if !reflect.DeepEqual(got.Folkbokforingspost, want.Folkbokforingspost) {
				t.Errorf("fast reader read\n %+v\nencoding/xml\n %+v", got.Folkbokforingspost, want.Folkbokforingspost)
			}
		})
	}
}

// FuzzFastAnswer: whatever the fast reader reads, encoding/xml reads too,
// to the same record, without a fault.
//
//	go test -run '^$' -fuzz FuzzFastAnswer -fuzztime 60s ./sources/soap/
func FuzzFastAnswer(f *testing.F) {
	for _, body := range answers(f) {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		var got PersonpostResponse
		ok := fastAnswer(body, &got)
		if !bytes.Equal(body, orig) {
			t.Fatal("the fast reader changed the answer it was given")
		}
		if !ok {
			return
		}
		want, first, fault, err := slowAnswer(body)
		if err != nil || first != "PersonpostXMLResponse" || fault != nil {
			t.Fatalf("the fast reader read an answer encoding/xml does not: %v, first %q, fault %v\n%q", err, first, fault, body)
		}
		if !reflect.DeepEqual(got.Folkbokforingspost, want.Folkbokforingspost) {
			t.Fatalf("fast reader read\n %+v\nencoding/xml\n %+v\n%q", got.Folkbokforingspost, want.Folkbokforingspost, body)
		}
	})
}
