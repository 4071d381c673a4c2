package model

import (
	"errors"
	"strings"
	"time"
)

// ErrInvalidPersonalNumber is returned for a personnummer that fails the format,
// date or Luhn check.
var ErrInvalidPersonalNumber = errors.New("invalid personnummer: want 12 digits YYYYMMDDNNNC with a valid check digit")

// ParsePersonalNumber validates a personnummer and returns it as 12 digits.
// It accepts YYYYMMDDNNNC, YYYYMMDD-NNNC and YYYYMMDD+NNNC (the plus marks a
// person aged 100 or more). Nothing else is let through, so a
// validated number is safe to put in an upstream request.
func ParsePersonalNumber(s string) (string, error) {
	if len(s) == 13 && (s[8] == '-' || s[8] == '+') {
		s = s[:8] + s[9:]
	}
	if len(s) != 12 {
		return "", ErrInvalidPersonalNumber
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", ErrInvalidPersonalNumber
		}
	}
	// Day may be raised by 60 for a samordningsnummer; those are not in scope.
	if _, err := time.Parse("20060102", s[:8]); err != nil {
		return "", ErrInvalidPersonalNumber
	}
	if LuhnDigit(s[2:11]) != s[11]-'0' {
		return "", ErrInvalidPersonalNumber
	}
	return s, nil
}

// LuhnDigit computes the check digit of the nine digits YYMMDDNNN.
func LuhnDigit(nine string) byte {
	sum := 0
	for i := 0; i < len(nine); i++ {
		d := int(nine[i] - '0')
		if i%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte((10 - sum%10) % 10)
}

// MaskPersonalNumber keeps the birth date and hides the last four digits, for logs.
func MaskPersonalNumber(s string) string {
	if len(s) < 8 {
		return strings.Repeat("*", len(s))
	}
	return s[:8] + "-****"
}

// LoggableOperationName is a client-chosen GraphQL operation name as it may
// be written to metrics and the access log, or "" where it may not: a
// name longer than 64 characters, with a character outside [A-Za-z0-9_],
// or with a run of six or more digits, which could be a personnummer
// (query Person_199505200577) or a date of birth that the access log and
// /metrics otherwise never hold in clear.
func LoggableOperationName(name string) string {
	if len(name) > 64 {
		return ""
	}
	digits := 0
	for _, r := range name {
		switch {
		case r >= '0' && r <= '9':
			if digits++; digits >= 6 {
				return ""
			}
			continue
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		default:
			return ""
		}
		digits = 0
	}
	return name
}
