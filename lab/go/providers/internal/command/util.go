package command

import (
	"io"
	"sort"
	"sync"
)

// lockedWriters serialises writes coming from several goroutines into shared buffers.
type lockedWriters struct{ mu sync.Mutex }

type lockedWriter struct {
	l *lockedWriters
	w io.Writer
}

func (l *lockedWriters) wrap(w io.Writer) io.Writer { return &lockedWriter{l, w} }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.w.Write(p)
}

func sortedEnvKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
