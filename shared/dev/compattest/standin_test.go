package compattest

// A stand-in for a Taskcluster deployment: an auth service and a queue (and a
// notify service, and a catch-all that records what reaches it), small enough to read,
// that check Hawk and temporary credentials by Taskcluster's published rules
// (services/auth/src/signaturevalidator.js, @hapi/hawk) with code of its own: it
// shares nothing with shared/auth, so workerfleet's credentials are judged by an
// independent reading of those rules, as the deployment's auth service would judge
// them.

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// standInClient is a permanent client of the stand-in deployment.
type standInClient struct {
	accessToken string
	scopes      []string
}

// standInRequest is what reached the stand-in's catch-all.
type standInRequest struct {
	Method, URI, Host, Authorization, ContentType, Body string
}

// standInClaim is a claimWork the stand-in queue granted.
type standInClaim struct {
	TaskQueueID, WorkerGroup, WorkerID, ClientID string
	Scopes                                       []string
}

type standIn struct {
	t   *testing.T
	URL string

	mu        sync.Mutex
	clients   map[string]standInClient
	roles     map[string][]string // role id (may end in *) -> scopes (may hold <..>)
	pending   map[string]int      // taskQueueId -> pending tasks
	claims    []standInClaim
	completed []string // taskId/runId reported completed
	taskSeq   int
	emails    []map[string]string
	other     []standInRequest
	authn     int // authenticateHawk calls answered
}

// startStandIn serves the stand-in on a loopback port.
func startStandIn(t *testing.T) *standIn {
	t.Helper()
	u := &standIn{t: t, clients: map[string]standInClient{}, roles: map[string][]string{}, pending: map[string]int{}}
	// The queue's own client, which issues the credentials of each claim.
	u.clients[standInQueueClient] = standInClient{accessToken: standInQueueToken, scopes: []string{"queue:*"}}
	srv := httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

func (u *standIn) addClient(id, token string, scopes ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.clients[id] = standInClient{accessToken: token, scopes: scopes}
}

func (u *standIn) addRole(id string, scopes ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.roles[id] = scopes
}

func (u *standIn) setPending(taskQueueID string, n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.pending[taskQueueID] = n
}

func (u *standIn) progress() (pending map[string]int, completed int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	pending = map[string]int{}
	for k, v := range u.pending {
		pending[k] = v
	}
	return pending, len(u.completed)
}

func (u *standIn) snapshot() (claims []standInClaim, emails []map[string]string, other []standInRequest) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]standInClaim(nil), u.claims...), append([]map[string]string(nil), u.emails...), append([]standInRequest(nil), u.other...)
}

func (u *standIn) reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (u *standIn) fail(w http.ResponseWriter, status int, code, format string, args ...any) {
	u.reply(w, status, map[string]string{"code": code, "message": fmt.Sprintf(format, args...)})
}

var (
	pendingRE   = regexp.MustCompile(`^/api/queue/v1/pending/([^/]+)/([^/]+)$`)
	claimWorkRE = regexp.MustCompile(`^/api/queue/v1/claim-work/([^/]+)/([^/]+)$`)
	completedRE = regexp.MustCompile(`^/api/queue/v1/task/([^/]+)/runs/([0-9]+)/completed$`)
)

const (
	standInQueueClient = "static/taskcluster/queue"
	standInQueueToken  = "stand-in-queue-token-0123456789abcdefghijkl"
)

func (u *standIn) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := r.URL.EscapedPath()
	switch {
	case r.Method == "POST" && path == "/api/auth/v1/authenticate-hawk":
		u.authenticateHawk(w, body)
	case r.Method == "GET" && path == "/api/auth/v1/scopes/current":
		res := u.authenticate(r, body)
		if res.failed != "" {
			u.fail(w, 401, "AuthenticationFailed", "%s", res.failed)
			return
		}
		u.reply(w, 200, map[string]any{"scopes": res.scopes})
	case r.Method == "POST" && path == "/api/auth/v1/scopes/expand":
		// No scopes required: the deployment's roles, expanded.
		var req struct{ Scopes []string }
		if err := json.Unmarshal(body, &req); err != nil {
			u.fail(w, 400, "InputValidationError", "%v", err)
			return
		}
		u.reply(w, 200, map[string]any{"scopes": u.expand(req.Scopes)})
	case r.Method == "GET" && pendingRE.MatchString(path):
		// No scopes required: served without authenticating, whatever the header.
		m := pendingRE.FindStringSubmatch(path)
		u.mu.Lock()
		n := u.pending[m[1]+"/"+m[2]]
		u.mu.Unlock()
		u.reply(w, 200, map[string]any{"provisionerId": m[1], "workerType": m[2], "pendingTasks": n})
	case r.Method == "POST" && claimWorkRE.MatchString(path):
		m := claimWorkRE.FindStringSubmatch(path)
		u.claimWork(w, r, body, m[1]+"/"+m[2])
	case r.Method == "POST" && completedRE.MatchString(path):
		m := completedRE.FindStringSubmatch(path)
		res := u.authenticate(r, body)
		switch {
		case res.failed != "":
			u.fail(w, 401, "AuthenticationFailed", "%s", res.failed)
		case !standInSatisfies(res.scopes, "queue:resolve-task:"+m[1]+"/"+m[2]):
			u.fail(w, 403, "InsufficientScopes", "%s lacks queue:resolve-task:%s/%s", res.clientID, m[1], m[2])
		default:
			u.mu.Lock()
			u.completed = append(u.completed, m[1]+"/"+m[2])
			u.mu.Unlock()
			u.reply(w, 200, map[string]any{"status": map[string]any{"taskId": m[1], "state": "completed"}})
		}
	case r.Method == "POST" && path == "/api/notify/v1/email":
		var req map[string]string
		_ = json.Unmarshal(body, &req)
		res := u.authenticate(r, body)
		switch {
		case res.failed != "":
			u.fail(w, 401, "AuthenticationFailed", "%s", res.failed)
		case !standInSatisfies(res.scopes, "notify:email:"+req["address"]):
			u.fail(w, 403, "InsufficientScopes", "%s lacks notify:email:%s", res.clientID, req["address"])
		default:
			u.mu.Lock()
			u.emails = append(u.emails, req)
			u.mu.Unlock()
			u.reply(w, 200, map[string]any{})
		}
	default:
		u.mu.Lock()
		u.other = append(u.other, standInRequest{r.Method, r.RequestURI, r.Host, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(body)})
		u.mu.Unlock()
		u.reply(w, 200, map[string]any{"standIn": true})
	}
}

// claimWork grants one pending task per request for tasks, up to what is pending, if
// the caller holds queue:claim-work:<taskQueueId> and queue:worker-id:<group>/<id>.
func (u *standIn) claimWork(w http.ResponseWriter, r *http.Request, body []byte, taskQueueID string) {
	var req struct {
		Tasks       int    `json:"tasks"`
		WorkerGroup string `json:"workerGroup"`
		WorkerID    string `json:"workerId"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Tasks < 1 || req.WorkerGroup == "" || req.WorkerID == "" {
		u.fail(w, 400, "InputValidationError", "claimWork needs tasks, workerGroup and workerId")
		return
	}
	res := u.authenticate(r, body)
	if res.failed != "" {
		u.fail(w, 401, "AuthenticationFailed", "%s", res.failed)
		return
	}
	for _, need := range []string{"queue:claim-work:" + taskQueueID, "queue:worker-id:" + req.WorkerGroup + "/" + req.WorkerID} {
		if !standInSatisfies(res.scopes, need) {
			u.fail(w, 403, "InsufficientScopes", "client %s lacks %s", res.clientID, need)
			return
		}
	}
	u.mu.Lock()
	n := min(req.Tasks, u.pending[taskQueueID])
	u.pending[taskQueueID] -= n
	u.claims = append(u.claims, standInClaim{taskQueueID, req.WorkerGroup, req.WorkerID, res.clientID, res.scopes})
	first := u.taskSeq
	u.taskSeq += n
	u.mu.Unlock()
	tasks := make([]map[string]any, 0, n)
	until := time.Now().Add(20 * time.Minute)
	for i := range n {
		taskID := fmt.Sprintf("standInTask%011d", first+i)
		creds := temporaryCredentials(standInQueueClient, standInQueueToken, time.Now(), until, "queue:resolve-task:"+taskID+"/0")
		tasks = append(tasks, map[string]any{"status": map[string]any{"taskId": taskID}, "runId": 0,
			"credentials": map[string]string{"clientId": creds.ClientID, "accessToken": creds.AccessToken, "certificate": creds.Certificate},
			"workerGroup": req.WorkerGroup, "workerId": req.WorkerID, "takenUntil": until.UTC().Format("2006-01-02T15:04:05.000Z")})
	}
	u.reply(w, 200, map[string]any{"tasks": tasks})
}

// authenticateHawk answers the auth service's method for another service's request.
func (u *standIn) authenticateHawk(w http.ResponseWriter, body []byte) {
	var req struct {
		Method, Resource, Host, Authorization string
		Port                                  int
	}
	if err := json.Unmarshal(body, &req); err != nil {
		u.fail(w, 400, "InputValidationError", "bad request")
		return
	}
	u.mu.Lock()
	u.authn++
	u.mu.Unlock()
	res := u.check(strings.ToUpper(req.Method), req.Resource, req.Host, strconv.Itoa(req.Port), req.Authorization, "", nil)
	if res.failed != "" {
		u.reply(w, 200, map[string]any{"status": "auth-failed", "message": res.failed})
		return
	}
	out := map[string]any{"status": "auth-success", "clientId": res.clientID, "scopes": res.scopes, "scheme": "hawk",
		"expires": res.expires.UTC().Format("2006-01-02T15:04:05.000Z")}
	if res.hash != "" {
		out["hash"] = res.hash
	}
	u.reply(w, 200, out)
}

type standInAuth struct {
	clientID string
	scopes   []string
	expires  time.Time
	hash     string
	failed   string // why authentication failed; "" on success
}

// authenticate checks a request made to the stand-in itself, by its Host header (and
// its port), as Taskcluster's services do.
func (u *standIn) authenticate(r *http.Request, body []byte) standInAuth {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "80"
	}
	return u.check(r.Method, r.URL.RequestURI(), host, port, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body)
}

var hawkAttrRE = regexp.MustCompile(`(\w+)="([^"\\]*)"\s*(?:,\s*|$)`)

// check verifies a Hawk Authorization header: the MAC over Hawk's normalized string
// for the given method, resource, host and port, ts within 15 minutes, the payload
// hash when a body is given and a hash was signed, then the certificate of temporary
// credentials and ext.authorizedScopes, as signaturevalidator.js does.
func (u *standIn) check(method, resource, host, port, authorization, contentType string, body []byte) standInAuth {
	rest, ok := strings.CutPrefix(authorization, "Hawk ")
	if !ok {
		return standInAuth{failed: "no Hawk Authorization header"}
	}
	attrs := map[string]string{}
	for _, m := range hawkAttrRE.FindAllStringSubmatch(rest, -1) {
		attrs[m[1]] = m[2]
	}
	id, ts, nonce, mac := attrs["id"], attrs["ts"], attrs["nonce"], attrs["mac"]
	if id == "" || ts == "" || nonce == "" || mac == "" {
		return standInAuth{failed: "the Hawk header lacks id, ts, nonce or mac"}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 15*time.Minute {
		return standInAuth{failed: "stale timestamp"}
	}
	var ext struct {
		Certificate      json.RawMessage `json:"certificate"`
		AuthorizedScopes []string        `json:"authorizedScopes"`
	}
	if e := attrs["ext"]; e != "" {
		raw, err := base64.StdEncoding.DecodeString(e)
		if err != nil || json.Unmarshal(raw, &ext) != nil {
			return standInAuth{failed: "ext is not base64 JSON"}
		}
	}
	var cert *standInCert
	if len(ext.Certificate) > 0 && string(ext.Certificate) != "null" {
		c, err := parseStandInCert(ext.Certificate)
		if err != nil {
			return standInAuth{failed: err.Error()}
		}
		cert = c
	}
	issuerID := id
	if cert != nil && cert.Issuer != "" {
		if cert.Issuer == id {
			return standInAuth{failed: "ext.certificate.issuer must differ from the supplied clientId"}
		}
		issuerID = cert.Issuer
	}
	u.mu.Lock()
	issuer, known := u.clients[issuerID]
	u.mu.Unlock()
	if !known {
		return standInAuth{failed: "unknown client " + issuerID}
	}
	key := issuer.accessToken
	if cert != nil {
		h := hmac.New(sha256.New, []byte(issuer.accessToken))
		h.Write([]byte(cert.Seed))
		key = base64.RawURLEncoding.EncodeToString(h.Sum(nil))
	}
	normalized := "hawk.1.header\n" + ts + "\n" + nonce + "\n" + method + "\n" + resource + "\n" + host + "\n" + port + "\n" +
		attrs["hash"] + "\n" + attrs["ext"] + "\n"
	if attrs["app"] != "" {
		normalized += attrs["app"] + "\n" + attrs["dlg"] + "\n"
	}
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(normalized))
	if subtle.ConstantTimeCompare([]byte(base64.StdEncoding.EncodeToString(h.Sum(nil))), []byte(mac)) != 1 {
		return standInAuth{failed: "bad mac"}
	}
	if attrs["hash"] != "" && body != nil {
		mt, _, _ := strings.Cut(contentType, ";")
		p := sha256.Sum256([]byte("hawk.1.payload\n" + strings.ToLower(strings.TrimSpace(mt)) + "\n" + string(body) + "\n"))
		if base64.StdEncoding.EncodeToString(p[:]) != attrs["hash"] {
			return standInAuth{failed: "bad payload hash"}
		}
	}
	res := standInAuth{clientID: id, scopes: u.expand(issuer.scopes), expires: time.Now().Add(time.Hour), hash: attrs["hash"]}
	if cert != nil {
		if why := cert.check(id, issuerID, issuer, u.expand(issuer.scopes)); why != "" {
			return standInAuth{failed: why}
		}
		res.scopes, res.expires = u.expand(cert.Scopes), time.UnixMilli(cert.Expiry)
	}
	if ext.AuthorizedScopes != nil {
		for _, s := range ext.AuthorizedScopes {
			if !standInSatisfies(res.scopes, s) {
				return standInAuth{failed: "authorizedScopes are not satisfied by the credentials"}
			}
		}
		res.scopes = u.expand(ext.AuthorizedScopes)
	}
	return res
}

type standInCert struct {
	Version   int      `json:"version"`
	Scopes    []string `json:"scopes"`
	Start     int64    `json:"start"`
	Expiry    int64    `json:"expiry"`
	Seed      string   `json:"seed"`
	Signature string   `json:"signature"`
	Issuer    string   `json:"issuer"`
}

// parseStandInCert reads ext.certificate, a JSON object or a string holding one.
func parseStandInCert(raw json.RawMessage) (*standInCert, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	var c standInCert
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, errors.New("ext.certificate is not a certificate")
	}
	if c.Version != 1 || len(c.Seed) != 44 || c.Signature == "" {
		return nil, errors.New("ext.certificate: version must be 1 and the seed 44 characters")
	}
	return &c, nil
}

// check applies signaturevalidator.js's certificate rules: valid from 5 minutes
// before start to 5 minutes after expiry, at most 31 days, a named certificate's
// issuer holds auth:create-client:<name>, the issuer holds every scope granted, and
// the signature is the issuer's.
func (c *standInCert) check(clientID, issuerID string, issuer standInClient, issuerScopes []string) string {
	now := time.Now().UnixMilli()
	switch {
	case c.Start > now+5*60*1000:
		return "ext.certificate.start > now"
	case c.Expiry < now-5*60*1000:
		return "ext.certificate.expiry < now"
	case c.Expiry-c.Start > 31*24*60*60*1000:
		return "ext.certificate cannot last longer than 31 days"
	}
	if c.Issuer != "" && !standInSatisfies(issuerScopes, "auth:create-client:"+clientID) {
		return "ext.certificate issuer " + issuerID + " doesn't have auth:create-client:" + clientID
	}
	for _, s := range c.Scopes {
		if !standInSatisfies(issuerScopes, s) {
			return "ext.certificate issuer " + issuerID + " doesn't satisfy " + s
		}
	}
	text := "version:1\n"
	if c.Issuer != "" {
		text += "clientId:" + clientID + "\nissuer:" + c.Issuer + "\n"
	}
	text += "seed:" + c.Seed + "\nstart:" + strconv.FormatInt(c.Start, 10) + "\nexpiry:" + strconv.FormatInt(c.Expiry, 10) +
		"\nscopes:\n" + strings.Join(c.Scopes, "\n")
	h := hmac.New(sha256.New, []byte(issuer.accessToken))
	h.Write([]byte(text))
	if subtle.ConstantTimeCompare([]byte(base64.StdEncoding.EncodeToString(h.Sum(nil))), []byte(c.Signature)) != 1 {
		return "ext.certificate.signature is not valid"
	}
	return ""
}

// expand adds the scopes of the roles the scopes assume: assume:<role> for a role id
// it matches (a role id ending in * matches every id it prefixes, its scopes'
// <..> replaced by the rest), repeatedly, as the auth service expands them.
func (u *standIn) expand(scopes []string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := append([]string(nil), scopes...)
	seen := map[string]bool{}
	for _, s := range out {
		seen[s] = true
	}
	for i := 0; i < len(out); i++ {
		role, ok := strings.CutPrefix(out[i], "assume:")
		if !ok {
			continue
		}
		for id, granted := range u.roles {
			param, match := "", id == role
			if prefix, star := strings.CutSuffix(id, "*"); star && strings.HasPrefix(role, prefix) {
				param, match = role[len(prefix):], true
			}
			if !match {
				continue
			}
			for _, g := range granted {
				if g = strings.ReplaceAll(g, "<..>", param); !seen[g] {
					seen[g] = true
					out = append(out, g)
				}
			}
		}
	}
	return out
}

// standInSatisfies: a held scope equal to want, or ending in * and prefixing it.
func standInSatisfies(held []string, want string) bool {
	for _, h := range held {
		if h == want || (strings.HasSuffix(h, "*") && strings.HasPrefix(want, h[:len(h)-1])) {
			return true
		}
	}
	return false
}
