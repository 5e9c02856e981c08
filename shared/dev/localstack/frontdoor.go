package localstack

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// OwnPathPrefixes are the paths workerfleet serves behind a front door; every other
// path belongs to the Taskcluster deployment.
var OwnPathPrefixes = []string{"/api/worker-manager/", "/api/aws-provisioner/"}

// FrontDoor plays, in Taskcluster mode, what a deployment's ingress or CloudFront
// distribution does in front of workerfleet: one root URL for every service. Paths
// under OwnPathPrefixes go to the local API Gateway; every other request goes to
// the upstream Taskcluster deployment unchanged: its method, path and query, its
// headers (Host and Authorization included, so that Hawk signatures made for this
// URL verify there), and its body. Only hop-by-hop headers are dropped, as every
// proxy drops them.
type FrontDoor struct {
	own      http.Handler
	upstream *httputil.ReverseProxy
}

// NewFrontDoor serves own's paths with own and proxies the rest to upstream, a
// root URL (http or https, with or without a path prefix).
func NewFrontDoor(own http.Handler, upstream string, log *slog.Logger) (*FrontDoor, error) {
	u, err := url.Parse(upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("TC_ROOT_URL=%q is not a root URL like https://tc.example.com", upstream)
	}
	base := strings.TrimSuffix(u.Path, "/")
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = u.Scheme, u.Host
			r.Out.URL.Path = base + r.In.URL.Path
			if r.In.URL.RawPath != "" {
				r.Out.URL.RawPath = base + r.In.URL.RawPath
			}
			r.Out.Host = r.In.Host // as the client addressed it, as it signed it
			// ReverseProxy drops these before Rewrite; a front door passes them on.
			for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if v, ok := r.In.Header[h]; ok {
					r.Out.Header[h] = v
				}
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Warn("front door: the Taskcluster deployment did not answer", "method", r.Method, "path", r.URL.Path, "error", err.Error())
			writeJSON(w, http.StatusBadGateway, map[string]string{"code": "BadGateway",
				"message": fmt.Sprintf("the Taskcluster deployment at %s did not answer %s %s", u.Redacted(), r.Method, r.URL.Path)})
		},
	}
	return &FrontDoor{own: own, upstream: proxy}, nil
}

func (f *FrontDoor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if OwnsPath(r.URL.EscapedPath()) {
		f.own.ServeHTTP(w, r)
		return
	}
	f.upstream.ServeHTTP(w, r)
}

// OwnsPath reports whether a request path (as sent, percent-encoded) is
// workerfleet's: whether its normal form is one of OwnPathPrefixes (with or without
// the trailing slash) or lies under one. The normal form is what a server behind
// the front door may make of the path before routing it: percent-decoded, '\'
// read as '/', runs of '/' collapsed, "." and ".." segments resolved, and letters
// compared without case (Taskcluster's services route without case). Deciding on
// the path as sent would pass //api/worker-manager/v1/ping or
// /api/queue/v1/../../worker-manager/v1/ping to the upstream, whose own router
// may serve them as ours. A path that cannot be decoded is ours too: the API
// answers it with a 4xx, and it never reaches the upstream.
func OwnsPath(escaped string) bool {
	p, err := url.PathUnescape(escaped)
	if err != nil {
		return true
	}
	n := strings.ToLower(NormalPath(p))
	for _, prefix := range OwnPathPrefixes {
		if n == strings.TrimSuffix(prefix, "/") || strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

// NormalPath is a decoded path with '\' read as '/', runs of '/' collapsed and
// dot segments resolved (RFC 3986, section 5.2.4); a trailing '/' is kept.
func NormalPath(p string) string {
	p = strings.ReplaceAll(p, "\\", "/")
	var out []string
	segs := strings.Split(p, "/")
	for i, s := range segs {
		switch s {
		case "", ".":
			if i == len(segs)-1 {
				out = append(out, "") // a trailing slash stays
			}
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if i == len(segs)-1 {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}
