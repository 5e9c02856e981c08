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
	for _, p := range OwnPathPrefixes {
		if strings.HasPrefix(r.URL.Path, p) {
			f.own.ServeHTTP(w, r)
			return
		}
	}
	f.upstream.ServeHTTP(w, r)
}
