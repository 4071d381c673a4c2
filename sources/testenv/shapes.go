package testenv

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
)

// LogBuffer collects log lines written from many goroutines; String may be
// called while they still write.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is what was written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FragmentBomb returns the fragments F0 to F<levels> on type on, where
// each spreads the next one twice, so F0 expands to 2^levels copies of the
// last one, which selects leaf. With alias not empty, a format with one %d
// for the level, every level also selects that aliased field. The caller
// writes the operation that spreads F0.
func FragmentBomb(levels int, on, alias, leaf string) string {
	var b strings.Builder
	for i := range levels {
		fmt.Fprintf(&b, "fragment F%d on %s { ...F%d ...F%d", i, on, i+1, i+1)
		if alias != "" {
			b.WriteString(" " + fmt.Sprintf(alias, i))
		}
		b.WriteString(" }\n")
	}
	fmt.Fprintf(&b, "fragment F%d on %s { %s }\n", levels, on, leaf)
	return b.String()
}
