package localstack

import (
	"net/http"
	"strings"
)

// prefixMux sends a request to the handler of the longest pattern that is its path
// (a pattern ending in '/' also takes every path under it), else to fallback (the
// API gateway). Unlike http.ServeMux it never redirects: API Gateway answers a path
// with "//" or ".." like any other, and so does the local stack.
type prefixMux struct {
	patterns []string
	handlers []http.Handler
	fallback http.Handler
}

// HandleFunc adds a pattern.
func (m *prefixMux) HandleFunc(pattern string, h http.HandlerFunc) {
	m.patterns = append(m.patterns, pattern)
	m.handlers = append(m.handlers, h)
}

func (m *prefixMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	best := -1
	for i, p := range m.patterns {
		if r.URL.Path == p || strings.HasSuffix(p, "/") && strings.HasPrefix(r.URL.Path, p) {
			if best < 0 || len(p) > len(m.patterns[best]) {
				best = i
			}
		}
	}
	if best < 0 {
		m.fallback.ServeHTTP(w, r)
		return
	}
	m.handlers[best].ServeHTTP(w, r)
}
