// Package httpapi turns API Gateway v2 (HTTP API) events into calls of route handlers
// and their results into responses, as Taskcluster services answer: JSON bodies, and
// errors as {"code", "message", "requestInfo"} with the right status.
//
// Routes are declared in Taskcluster's style, relative to the API's base path
// (/worker-type/<workerType>/update). API Gateway delivers rawPath decoded (a client's
// /a%2Fb arrives as /a/b), so parameters that may contain '/' are declared as such and
// match across segments; the template's route for them is greedy ({name+}), and
// GatewayPath derives it. Because the clients sign the encoded path, the router also
// reconstructs the encodings a client may have signed, for the authenticator.
//
// A handler never lets a panic or an internal error reach the client as anything but
// a 500 with a request id; bad input is the handler's 4xx *Error.
package httpapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// DefaultMaxBody is the largest request body accepted (API Gateway allows 10 MB; no
// request of these APIs needs more than a fraction of this).
const DefaultMaxBody = 1 << 20

// MaxParam bounds every path parameter, whatever the route: parameters become
// DynamoDB keys, which DynamoDB refuses (with a 500 to the caller) beyond 2,048
// bytes, and no valid identifier of these APIs comes close. Handlers check their
// parameters' patterns; this is the floor under all of them.
const MaxParam = 1024

// Caller is who made a request, as the authenticator established it.
type Caller struct {
	ClientID      string
	Scopes        []string
	Authenticated bool
}

// anonymousScope is what unauthenticated callers hold, as in Taskcluster.
const anonymousScope = "assume:anonymous"

// FrontDoorHeader is the header a front door (the template's CloudFront
// distribution, or a deployment's ingress configured so) proves itself with: its
// value is a secret shared with the API functions (FRONT_DOOR_SECRET). Only a
// request carrying it has its X-Forwarded-Host believed.
const FrontDoorHeader = "X-Workerfleet-Front-Door"

// AuthRequest is what an authenticator needs to check a request's credentials.
type AuthRequest struct {
	// Method is the HTTP method; Host and Port are those of the Host header (API
	// Gateway passes the domain the client called), the port from it, from
	// X-Forwarded-Port (which API Gateway sets) or from the scheme.
	Method, Host, Port string
	// ForwardedHost and ForwardedPort are what X-Forwarded-Host says the client
	// addressed ("" without one), and FrontDoorProof the FrontDoorHeader's value:
	// see Addressed.
	ForwardedHost, ForwardedPort, FrontDoorProof string
	// Resources are the request URIs (path?query) the client may have signed: the
	// path re-encoded as the known clients encode parameters, then the path as
	// delivered (decoded) when it differs from those. Encoded is how many of them,
	// from the first, are such encodings.
	Resources     []string
	Encoded       int
	Authorization string
	ContentType   string
	Payload       []byte
}

// Authenticator establishes the caller of a request. A request with no credentials
// yields an anonymous Caller; bad credentials yield an error, answered as a 401 unless
// it is already an *Error.
type Authenticator interface {
	Authenticate(ctx context.Context, r AuthRequest) (Caller, error)
}

// Requirement is a scope expression a caller's scopes must satisfy.
type Requirement interface {
	SatisfiedBy(scopes []string) bool
	String() string
}

// Handler serves one route.
type Handler func(ctx context.Context, r *Request) (*Response, error)

// Route is one API method.
type Route struct {
	Name    string // the Taskcluster method name, e.g. "createWorkerType"
	Method  string
	Pattern string // relative to the API's base, with <param> placeholders
	Handler Handler
	// Credentials names the path parameters that are credentials (a secret's token):
	// request logs show them as <redacted>.
	Credentials []string
	// MaxBody, if positive and below the API's limit, is this route's body limit:
	// a longer body is a 413 before anything else is done with it.
	MaxBody int
	// Check, if set, refuses what can be refused without knowing the caller (the
	// path parameters' patterns): it runs before authentication, so a malformed
	// request costs no client lookup and no call to a remote auth service.
	Check func(r *Request) error
	// NoScopes marks a method that requires no scopes (Taskcluster's reference
	// lists none for it). As Taskcluster's API library does, such a method is served
	// without authenticating the caller: whatever Authorization header or bewit comes
	// (an empty client id, an expired certificate, an unknown client), the handler
	// sees the anonymous caller. Every other route authenticates fully.
	NoScopes bool
	// AnonymousOnFailure serves a request whose credentials do not authenticate
	// (401) as the anonymous caller, with the anonymous scopes, instead of refusing
	// it: for reads that anyone may make where the deployment says so, which v25's
	// clients make with empty credentials when they have none (v25 served such
	// methods without authenticating). A caller without the scopes still gets 403.
	AnonymousOnFailure bool
	// SlashPatterns narrow, for this route, what a parameter that may contain '/'
	// matches (a regular expression; the API's default is any text). A worker pool
	// id has exactly one '/' ([^/]+/[^/]+), which is what tells
	// /workers/<workerPoolId>/<workerGroup> from
	// /workers/<workerPoolId>/<workerGroup>/<workerId> without v25's ':'.
	SlashPatterns map[string]string
}

// Response is a handler's result.
type Response struct {
	Status int
	Body   any // marshalled as JSON; nil answers {}
}

// OK answers 200 with v as JSON.
func OK(v any) *Response { return &Response{Status: http.StatusOK, Body: v} }

// NoContent is a 204 response, which has no body.
func NoContent() *Response { return &Response{Status: http.StatusNoContent} }

// Request is an API request as a handler sees it.
type Request struct {
	Method string
	Path   string            // decoded path
	Params map[string]string // decoded path parameters
	Query  url.Values
	Header http.Header
	Body   []byte
	Caller Caller
	Route  string // the route's name
	ID     string // the request id, for logs and error messages

	logPath string // the path as logged, when it differs from the raw path
}

// Require fails with a 403 naming what is missing unless the caller's scopes satisfy req.
func (r *Request) Require(req Requirement) error {
	if req.SatisfiedBy(r.Caller.Scopes) {
		return nil
	}
	who := "anonymous callers lack"
	if r.Caller.Authenticated {
		who = "client " + strconv.Quote(r.Caller.ClientID) + " lacks"
	}
	return InsufficientScopes("%s the scopes %s requires: %s (held: %s)",
		who, r.Route, req.String(), strings.Join(r.Caller.Scopes, ", "))
}

// Decode unmarshals the JSON body into v, strictly: unknown fields, trailing data and
// wrong types are 400 InputValidationErrors.
func (r *Request) Decode(v any) error { return r.decode(v, true) }

// DecodeTolerant is Decode that ignores fields v does not have: for the calls of
// workers, which a newer worker may make with fields added since, and which must not
// lock it out.
func (r *Request) DecodeTolerant(v any) error { return r.decode(v, false) }

func (r *Request) decode(v any, strict bool) error {
	if len(r.Body) == 0 {
		return InputValidationError("request body is empty; a JSON object is required")
	}
	dec := json.NewDecoder(strings.NewReader(string(r.Body)))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return InputValidationError("request body: %s", describeJSONError(err))
	}
	if dec.More() {
		return InputValidationError("request body: unexpected data after the JSON value")
	}
	return nil
}

func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "the body"
		}
		return fmt.Sprintf("%s must be %s, not %s", field, typeName(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("invalid JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	return err.Error()
}

func typeName(kind string) string {
	switch kind {
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "float64", "float32", "int", "int64", "int32", "uint", "uint64":
		return "a number"
	case "bool":
		return "a boolean"
	}
	return "a " + kind
}

// API is one service's routes under a base path, e.g. /api/aws-provisioner/v1.
type API struct {
	base    string
	auth    Authenticator
	slashy  map[string]string // parameter -> the regexp its value matches
	routes  []*compiled
	maxBody int
	log     *slog.Logger
	now     func() time.Time
	others  []gatewayRoute // see AnswerUnrouted
	// anonymous, if set, returns the scopes every caller holds (WithAnonymousScopes).
	anonymous func(context.Context) []string
}

// gatewayRoute is another function's route, matched as API Gateway matches it.
type gatewayRoute struct {
	method string
	re     *regexp.Regexp
}

type compiled struct {
	Route
	re       *regexp.Regexp
	params   []string
	literals int
	order    int
}

// Option configures an API.
type Option func(*API)

// WithMaxBody sets the request body limit.
func WithMaxBody(n int) Option { return func(a *API) { a.maxBody = n } }

// WithAnonymousScopes gives every caller of the API's routes that require scopes,
// with credentials or without, the scopes scopes returns, on top of its own: what a
// deployment lets anyone do (Taskcluster's anonymous role, which every client may
// assume).
func WithAnonymousScopes(scopes func(context.Context) []string) Option {
	return func(a *API) { a.anonymous = scopes }
}

// WithLogger sets the logger for request logs.
func WithLogger(l *slog.Logger) Option { return func(a *API) { a.log = l } }

// New returns an API under base. slashParams names the path parameters whose values
// may contain '/' (worker pool ids, worker type names).
func New(base string, authn Authenticator, slashParams []string, opts ...Option) *API {
	a := &API{base: strings.TrimSuffix(base, "/"), auth: authn, slashy: map[string]string{}, maxBody: DefaultMaxBody, log: slog.Default(), now: time.Now}
	for _, p := range slashParams {
		a.slashy[p] = ".+?"
	}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Base is the API's base path.
func (a *API) Base() string { return a.base }

// AnswerUnrouted makes the API the one API Gateway's $default route sends every
// request no other route matches. It answers them as Taskcluster services do: a
// 405 MethodNotAllowed with an Allow header when one of routes (all the HTTP API's
// routes, its own included) serves the path with another method, else a 404
// ResourceNotFound; always a JSON error body.
func (a *API) AnswerUnrouted(routes []RouteInfo) {
	a.others = make([]gatewayRoute, 0, len(routes))
	for _, r := range routes {
		var b strings.Builder
		b.WriteString("^")
		for _, seg := range strings.Split(strings.TrimPrefix(r.GatewayPath, "/"), "/") {
			b.WriteString("/")
			switch {
			case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "+}"):
				b.WriteString(".+")
			case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
				b.WriteString("[^/]+")
			default:
				b.WriteString(regexp.QuoteMeta(seg))
			}
		}
		b.WriteString("$")
		a.others = append(a.others, gatewayRoute{method: r.Method, re: regexp.MustCompile(b.String())})
	}
}

// AnswersUnrouted reports whether AnswerUnrouted was called.
func (a *API) AnswersUnrouted() bool { return a.others != nil }

var paramRE = regexp.MustCompile(`<([A-Za-z][A-Za-z0-9]*)>`)

// Handle adds a route. It panics on a malformed pattern: routes are fixed at start-up.
func (a *API) Handle(r Route) {
	if !strings.HasPrefix(r.Pattern, "/") || r.Handler == nil || r.Name == "" {
		panic(fmt.Sprintf("httpapi: bad route %+v", r))
	}
	c := &compiled{Route: r, order: len(a.routes)}
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, m := range paramRE.FindAllStringSubmatchIndex(r.Pattern, -1) {
		lit := r.Pattern[last:m[0]]
		b.WriteString(regexp.QuoteMeta(lit))
		c.literals += len(lit)
		name := r.Pattern[m[2]:m[3]]
		c.params = append(c.params, name)
		if pattern, ok := a.slashy[name]; ok {
			if p := r.SlashPatterns[name]; p != "" {
				pattern = p
			}
			b.WriteString("(" + pattern + ")")
		} else {
			b.WriteString("([^/]+)")
		}
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(r.Pattern[last:]))
	c.literals += len(r.Pattern) - last
	b.WriteString("$")
	c.re = regexp.MustCompile(b.String())
	if _, err := a.gatewayPath(r.Pattern); err != nil {
		panic(fmt.Sprintf("httpapi: route %s: %v", r.Name, err))
	}
	a.routes = append(a.routes, c)
	// Most specific first: more literal text wins, then declaration order.
	sort.SliceStable(a.routes, func(i, j int) bool {
		if a.routes[i].literals != a.routes[j].literals {
			return a.routes[i].literals > a.routes[j].literals
		}
		return a.routes[i].order < a.routes[j].order
	})
}

// RouteInfo describes a declared route.
type RouteInfo struct {
	Name, Method string
	Path         string // full path with <param> placeholders
	GatewayPath  string // API Gateway's route path for it ({p} per segment, {p+} greedy)
}

// Key is the API Gateway route key serving the route.
func (ri RouteInfo) Key() string { return ri.Method + " " + ri.GatewayPath }

// Routes lists the declared routes in declaration order.
func (a *API) Routes() []RouteInfo {
	cs := append([]*compiled(nil), a.routes...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].order < cs[j].order })
	out := make([]RouteInfo, 0, len(cs))
	for _, c := range cs {
		gp, _ := a.gatewayPath(c.Pattern)
		out = append(out, RouteInfo{Name: c.Name, Method: c.Method, Path: a.base + c.Pattern, GatewayPath: gp})
	}
	return out
}

// gatewayPath derives API Gateway's route path for a pattern: each parameter that is
// a whole segment becomes {name}; the first parameter that may contain '/' becomes a
// greedy {name+} and ends the path (API Gateway allows greedy only at the end).
func (a *API) gatewayPath(pattern string) (string, error) {
	segs := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	var out []string
	for _, seg := range segs {
		loc := paramRE.FindStringSubmatchIndex(seg)
		if loc == nil {
			out = append(out, seg)
			continue
		}
		name := seg[loc[2]:loc[3]]
		if _, ok := a.slashy[name]; ok {
			if loc[0] != 0 {
				return "", fmt.Errorf("parameter <%s> must start its segment", name)
			}
			out = append(out, "{"+name+"+}")
			return a.base + "/" + strings.Join(out, "/"), nil
		}
		if loc[0] != 0 || loc[1] != len(seg) {
			return "", fmt.Errorf("parameter <%s> must be a whole segment", name)
		}
		out = append(out, "{"+name+"}")
	}
	return a.base + "/" + strings.Join(out, "/"), nil
}

// Serve is the Lambda handler: it answers every event, never returning an error.
func (a *API) Serve(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := a.now()
	req := &Request{
		Method: strings.ToUpper(ev.RequestContext.HTTP.Method),
		Header: http.Header{},
		ID:     ev.RequestContext.RequestID,
	}
	if req.Method == "" {
		req.Method = "GET"
	}
	for k, v := range ev.Headers {
		req.Header.Set(k, v)
	}
	status, body, allow := a.serve(ctx, ev, req)
	resp := events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json; charset=utf-8"},
		Body:       string(body),
	}
	if len(allow) > 0 {
		resp.Headers["Allow"] = strings.Join(allow, ", ")
	}
	logPath := ev.RawPath
	if req.logPath != "" {
		logPath = req.logPath
	}
	attrs := []any{"method", req.Method, "path", logPath, "route", req.Route, "status", status,
		"durationMs", a.now().Sub(start).Milliseconds(), "requestId", req.ID}
	if req.Caller.Authenticated {
		attrs = append(attrs, "clientId", req.Caller.ClientID)
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	a.log.Log(ctx, level, "request", attrs...)
	return resp, nil
}

func (a *API) serve(ctx context.Context, ev events.APIGatewayV2HTTPRequest, req *Request) (status int, body []byte, allow []string) {
	defer func() {
		if p := recover(); p != nil {
			a.log.ErrorContext(ctx, "handler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()), "requestId", req.ID)
			status, body = a.errorBody(req, internalError(req.ID))
			allow = nil
		}
	}()
	resp, err := a.dispatch(ctx, ev, req)
	if err != nil {
		var apiErr *Error
		if !errors.As(err, &apiErr) {
			a.log.ErrorContext(ctx, "handler failed", "error", err.Error(), "route", req.Route, "requestId", req.ID)
			apiErr = internalError(req.ID)
		}
		status, body = a.errorBody(req, apiErr)
		return status, body, apiErr.Allow
	}
	if resp == nil {
		resp = OK(nil)
	}
	if resp.Status == http.StatusNoContent {
		return resp.Status, nil, nil
	}
	out := resp.Body
	if out == nil {
		out = struct{}{}
	}
	data, err := encode(out)
	if err != nil {
		a.log.ErrorContext(ctx, "encoding response failed", "error", err.Error(), "route", req.Route)
		status, body = a.errorBody(req, internalError(req.ID))
		return status, body, nil
	}
	if resp.Status == 0 {
		resp.Status = http.StatusOK
	}
	return resp.Status, data, nil
}

// encode is JSON without HTML escaping: "<" stays "<" in what users read.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func (a *API) errorBody(req *Request, e *Error) (int, []byte) {
	data, _ := encode(map[string]any{
		"code":    e.Code,
		"message": e.Message,
		"requestInfo": map[string]any{
			"method": req.Route,
			"params": req.Params,
			"time":   a.now().UTC().Format(time.RFC3339Nano),
		},
	})
	return e.Status, data
}

func (a *API) dispatch(ctx context.Context, ev events.APIGatewayV2HTTPRequest, req *Request) (*Response, error) {
	route, err := a.route(ev, req)
	if err != nil {
		return nil, err
	}
	if err := a.readInput(ev, route, req); err != nil {
		return nil, err
	}
	if route.NoScopes {
		req.Caller = Caller{Scopes: []string{anonymousScope}}
		return route.Handler(ctx, req)
	}
	// What needs no caller is refused before the caller is established.
	if route.Check != nil {
		if err := route.Check(req); err != nil {
			return nil, err
		}
	}
	if len(req.Body) > 0 && !json.Valid(req.Body) {
		return nil, InputValidationError("request body: not valid JSON")
	}
	if req.Caller, err = a.caller(ctx, ev, route, req); err != nil {
		return nil, err
	}
	return route.Handler(ctx, req)
}

// route finds the request's route and its path parameters, bounded in length.
func (a *API) route(ev events.APIGatewayV2HTTPRequest, req *Request) (*compiled, error) {
	path, err := url.PathUnescape(ev.RawPath)
	if err != nil {
		return nil, NotFound("no such path: %q is not a valid path", ev.RawPath)
	}
	req.Path = path
	rel, inBase := strings.CutPrefix(path, a.base)
	var route *compiled
	var params map[string]string
	if inBase {
		route, params = a.match(req.Method, rel)
	}
	if route == nil {
		return nil, a.unrouted(req.Method, path)
	}
	req.Route, req.Params = route.Name, params
	for _, name := range route.params {
		if n := len(params[name]); n > MaxParam {
			return nil, InputValidationError("path parameter %s is %d bytes long; at most %d are allowed", name, n, MaxParam)
		}
	}
	if len(route.Credentials) > 0 {
		req.logPath = a.base + paramRE.ReplaceAllStringFunc(route.Pattern, func(m string) string {
			name := m[1 : len(m)-1]
			if slices.Contains(route.Credentials, name) {
				return "<redacted>"
			}
			return url.PathEscape(params[name])
		})
	}
	return route, nil
}

// readInput reads the query and the body, within the route's size limit.
func (a *API) readInput(ev events.APIGatewayV2HTTPRequest, route *compiled, req *Request) error {
	var err error
	if req.Query, err = url.ParseQuery(ev.RawQueryString); err != nil {
		return InputError("malformed query string: %v", err)
	}
	if req.Body, err = eventBody(ev); err != nil {
		return InputError("malformed request body encoding: %v", err)
	}
	limit := a.maxBody
	if route.MaxBody > 0 && route.MaxBody < limit {
		limit = route.MaxBody
	}
	if len(req.Body) > limit {
		return TooLarge("request body is %d bytes; %s accepts at most %d", len(req.Body), route.Name, limit)
	}
	return nil
}

// caller authenticates the request (anonymous on a failure where the route
// allows it) and adds what every caller holds.
func (a *API) caller(ctx context.Context, ev events.APIGatewayV2HTTPRequest, route *compiled, req *Request) (Caller, error) {
	host, port := hostPort(req.Header)
	fwdHost, fwdPort := forwardedHostPort(req.Header)
	resources, encoded := a.signedResources(ev, route, req.Params)
	caller, err := a.auth.Authenticate(ctx, AuthRequest{
		Method:         req.Method,
		Host:           host,
		Port:           port,
		ForwardedHost:  fwdHost,
		ForwardedPort:  fwdPort,
		FrontDoorProof: req.Header.Get(FrontDoorHeader),
		Resources:      resources,
		Encoded:        encoded,
		Authorization:  req.Header.Get("Authorization"),
		ContentType:    req.Header.Get("Content-Type"),
		Payload:        req.Body,
	})
	if err != nil {
		var apiErr *Error
		switch {
		case errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized && route.AnonymousOnFailure:
			caller = Caller{Scopes: []string{anonymousScope}}
		case errors.As(err, &apiErr):
			return Caller{}, apiErr
		default:
			return Caller{}, err
		}
	}
	if a.anonymous != nil {
		// Every caller holds what the anonymous caller does, as in Taskcluster.
		caller.Scopes = append(append([]string(nil), caller.Scopes...), a.anonymous(ctx)...)
	}
	return caller, nil
}

func (a *API) match(method, rel string) (*compiled, map[string]string) {
	for _, c := range a.routes {
		if c.Method != method {
			continue
		}
		m := c.re.FindStringSubmatch(rel)
		if m == nil {
			continue
		}
		params := make(map[string]string, len(c.params))
		for i, name := range c.params {
			params[name] = m[i+1]
		}
		return c, params
	}
	return nil, nil
}

// unrouted is the answer to a request no route of the API serves: a 405 naming the
// methods the path allows, by this API's routes or (see AnswerUnrouted) any of the
// HTTP API's, else a 404.
func (a *API) unrouted(method, path string) *Error {
	var allow []string
	if rel, ok := strings.CutPrefix(path, a.base); ok {
		for _, c := range a.routes {
			if c.re.MatchString(rel) {
				allow = append(allow, c.Method)
			}
		}
	}
	for _, o := range a.others {
		if o.re.MatchString(path) {
			allow = append(allow, o.method)
		}
	}
	slices.Sort(allow)
	allow = slices.Compact(allow)
	if len(allow) > 0 {
		e := Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not allowed on %s; allowed: %s", method, path, strings.Join(allow, ", "))
		e.Allow = allow
		return e
	}
	return NotFound("no such path %s: no method of this API is served there", path)
}

func eventBody(ev events.APIGatewayV2HTTPRequest) ([]byte, error) {
	if ev.Body == "" {
		return nil, nil
	}
	if !ev.IsBase64Encoded {
		return []byte(ev.Body), nil
	}
	return base64.StdEncoding.DecodeString(ev.Body)
}

// hostPort is the host and port of the Host header (API Gateway passes the domain
// the client called): the port from it, or from X-Forwarded-Port, or the scheme's
// default. X-Forwarded-Port and -Proto are the gateway's own (API Gateway and the
// local gateway set them), not the client's.
func hostPort(h http.Header) (string, string) {
	return splitHostPort(h.Get("Host"), h)
}

// forwardedHostPort is the host and port X-Forwarded-Host names (the first proxy's:
// the name the client used), or "" without one. Whether to believe it is
// Addressed's decision.
func forwardedHostPort(h http.Header) (string, string) {
	fwd, _, _ := strings.Cut(h.Get("X-Forwarded-Host"), ",")
	if fwd = strings.TrimSpace(fwd); fwd == "" {
		return "", ""
	}
	return splitHostPort(fwd, h)
}

func splitHostPort(host string, h http.Header) (string, string) {
	if hst, p, err := net.SplitHostPort(host); err == nil {
		return hst, p
	}
	if p := h.Get("X-Forwarded-Port"); p != "" {
		return host, p
	}
	if strings.EqualFold(h.Get("X-Forwarded-Proto"), "http") {
		return host, "80"
	}
	return host, "443"
}

// Addressed is the host and port the request's signature is checked against: the
// Host header's, as Taskcluster's services trust Host; or X-Forwarded-Host's when
// the request proves it came through the front door (FrontDoorProof equals
// frontDoorSecret, which is not empty). Any client can send X-Forwarded-Host:
// believing it from anyone would let a request signed for another deployment (one
// that shares the Taskcluster auth service) be replayed here.
func (r AuthRequest) Addressed(frontDoorSecret string) (host, port string) {
	if r.ForwardedHost != "" && frontDoorSecret != "" &&
		subtle.ConstantTimeCompare([]byte(r.FrontDoorProof), []byte(frontDoorSecret)) == 1 {
		return r.ForwardedHost, r.ForwardedPort
	}
	return r.Host, r.Port
}

// signedResources lists the request URIs a client may have signed for this request:
// the path rebuilt from the route's pattern with each parameter encoded as the Go
// clients (url.QueryEscape) and the JavaScript and Python clients
// (encodeURIComponent) encode it, then the path as delivered (decoded) when it
// differs from both; encoded counts the rebuilt ones. All decode to the same request.
func (a *API) signedResources(ev events.APIGatewayV2HTTPRequest, c *compiled, params map[string]string) (out []string, encoded int) {
	q := ""
	if ev.RawQueryString != "" {
		q = "?" + ev.RawQueryString
	}
	for _, esc := range []func(string) string{url.QueryEscape, EncodeURIComponent} {
		p := a.base + paramRE.ReplaceAllStringFunc(c.Pattern, func(m string) string {
			return esc(params[m[1:len(m)-1]])
		})
		if r := p + q; !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	encoded = len(out)
	if raw := ev.RawPath + q; !slices.Contains(out, raw) {
		out = append(out, raw)
	}
	return out, encoded
}

// EncodeURIComponent escapes as JavaScript's function of that name does (how
// Taskcluster's JavaScript clients build paths).
func EncodeURIComponent(s string) string {
	const keep = "-_.!~*'()"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// Paging reads the limit and continuationToken query parameters. limit must be an
// integer from 1 to max; absent, it is 0 (the listing's default).
func (r *Request) Paging(max int) (limit int, token string, err error) {
	token = r.Query.Get("continuationToken")
	if s := r.Query.Get("limit"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 1 || n > max {
			return 0, "", InputValidationError("limit must be an integer from 1 to %d, not %q", max, s)
		}
		limit = n
	}
	return limit, token, nil
}

// TimeFormat is how Taskcluster APIs write times (JavaScript's toISOString).
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Timestamp writes t as Taskcluster APIs do.
func Timestamp(t time.Time) string { return t.UTC().Format(TimeFormat) }
