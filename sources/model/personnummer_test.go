package model

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// withCheck appends the Luhn check digit to YYYYMMDDNNN, so that a case can
// break the date alone and keep the check digit right.
func withCheck(t testing.TB, eleven string) string {
	t.Helper()
	if len(eleven) != 11 {
		t.Fatalf("withCheck(%q): want 11 digits", eleven)
	}
	return eleven + string(rune('0'+LuhnDigit(eleven[2:])))
}

func TestParsePersonalNumber(t *testing.T) {
	tests := []struct {
		name, in, want string // want "" means rejected
	}{
		// Accepted forms.
		{"12 digits", "198112189876", "198112189876"},
		{"hyphen", "19811218-9876", "198112189876"},
		{"plus (centenarian separator) in the long form", "19121212+1212", "191212121212"},
		{"Skatteverket's test number", "191212121212", "191212121212"},
		{"leap day", "200002291235", "200002291235"},
		{"classic example 640823-3234", "19640823-3234", "196408233234"},
		{"check digit 0", "20000229-0070", "200002290070"},

		// Wrong length or shape.
		{"empty", "", ""},
		{"11 digits", "19811218987", ""},
		{"13 digits", "1981121898761", ""},
		{"10-digit short form", "8112189876", ""},
		{"short form with hyphen", "811218-9876", ""},
		{"hyphen in the wrong place", "1981121-89876", ""},
		{"two hyphens", "19811218--9876", ""},
		{"underscore separator", "19811218_9876", ""},
		{"space separator", "19811218 9876", ""},
		{"leading space", " 198112189876", ""},
		{"trailing newline", "198112189876\n", ""},
		{"leading minus", "-19811218987", ""},

		// Letters and other characters.
		{"letter in the serial", "1981121898X6", ""},
		{"letter after the hyphen", "19811218-987a", ""},
		{"full-width digits", "１９８１１２１８９８７６", ""},
		{"NUL byte", "19811218\x009876", ""},

		// Dates that do not exist, with a correct check digit.
		{"30 February", withCheck(t, "20230230123"), ""},
		{"31 February", withCheck(t, "20230231123"), ""},
		{"29 February in a common year", withCheck(t, "20230229123"), ""},
		{"month 13", withCheck(t, "19811318987"), ""},
		{"month 00", withCheck(t, "19810018987"), ""},
		{"day 00", withCheck(t, "19811200987"), ""},
		{"day 32", withCheck(t, "19811232987"), ""},
		{"samordningsnummer (day + 60)", withCheck(t, "19811278987"), ""},

		// Check digit.
		{"check digit off by one", "198112189875", ""},
		{"check digit off by one, with hyphen", "19811218-9877", ""},
		{"two digits swapped", "198112189786", ""},

		// Injection attempts.
		{"SQL", "198112189876' OR '1'='1", ""},
		{"SQL comment", "19811218-98--", ""},
		{"SQL in 12 characters", "1' OR 1=1 --", ""},
		{"markup", "<PersonId>198112189876</PersonId>", ""},
		{"markup in 12 characters", "<x>&amp;\"'12", ""},
		{"path", "../198112189", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePersonalNumber(tc.in)
			if tc.want == "" {
				if err != ErrInvalidPersonalNumber || got != "" {
					t.Errorf("ParsePersonalNumber(%q) = %q, %v; want \"\", ErrInvalidPersonalNumber", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParsePersonalNumber(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestLuhnDigit(t *testing.T) {
	tests := []struct {
		nine string
		want byte
	}{
		{"811218987", 6}, // 811218-9876
		{"121212121", 2}, // 121212-1212, Skatteverket's test number
		{"640823323", 4}, // 640823-3234
		{"000000000", 0},
		{"999999999", 9},
		{"100000000", 8},
		{"010000000", 9},
	}
	for _, tc := range tests {
		t.Run(tc.nine, func(t *testing.T) {
			if got := LuhnDigit(tc.nine); got != tc.want {
				t.Errorf("LuhnDigit(%q) = %d, want %d", tc.nine, got, tc.want)
			}
		})
	}
}

func TestMaskPersonalNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"198112189876", "19811218-****"},
		{"19811218-9876", "19811218-****"},
		{"19811218", "19811218-****"},
		{"1981121", "*******"},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := MaskPersonalNumber(tc.in); got != tc.want {
				t.Errorf("MaskPersonalNumber(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzParsePersonalNumber: whatever the input, parsing does not panic, and
// what it accepts is 12 ASCII digits with a real date and a valid check
// digit, equal to the input without its separator.
func FuzzParsePersonalNumber(f *testing.F) {
	for _, s := range []string{
		"198112189876", "19811218-9876", "19121212+1212", "8112189876", "811218-9876",
		"20230231", "202302311234", "198112189875", "1' OR 1=1 --", "<x>&amp;\"'12",
		"", "19811218\x009876", "１９８１１２１８９８７６", "00000101-0008",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParsePersonalNumber(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidPersonalNumber) || got != "" {
				t.Fatalf("ParsePersonalNumber(%q) = %q, %v; a rejection must be \"\", ErrInvalidPersonalNumber", in, got, err)
			}
			return
		}
		if len(got) != 12 {
			t.Fatalf("ParsePersonalNumber(%q) = %q: %d bytes, want 12", in, got, len(got))
		}
		for i := 0; i < len(got); i++ {
			if got[i] < '0' || got[i] > '9' {
				t.Fatalf("ParsePersonalNumber(%q) = %q: byte %d is %q, not an ASCII digit", in, got, i, got[i])
			}
		}
		if c := LuhnDigit(got[2:11]); c != got[11]-'0' {
			t.Fatalf("ParsePersonalNumber(%q) = %q: check digit %c, want %d", in, got, got[11], c)
		}
		if _, err := time.Parse("20060102", got[:8]); err != nil {
			t.Fatalf("ParsePersonalNumber(%q) = %q: %s is not a date: %v", in, got, got[:8], err)
		}
		if strip := strings.NewReplacer("-", "", "+", "").Replace(in); strip != got {
			t.Fatalf("ParsePersonalNumber(%q) = %q, want the input without its separator", in, got)
		}
		if again, err := ParsePersonalNumber(got); err != nil || again != got {
			t.Fatalf("ParsePersonalNumber(%q) = %q, %v; want it accepted unchanged", got, again, err)
		}
	})
}

func TestLoggableOperationName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Worklist", "Worklist"},
		{"Q1_2026", "Q1_2026"},
		{"unit12345_v2", "unit12345_v2"},
		{"Person_199505200577", ""},
		{"Person_9505200577", ""},
		{"Born_950520", ""},
		{"With space", ""},
		{"Åsa", ""},
		{strings.Repeat("a", 65), ""},
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
		{"", ""},
	} {
		if got := LoggableOperationName(tc.in); got != tc.want {
			t.Errorf("LoggableOperationName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
