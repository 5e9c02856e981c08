package localstack

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
)

// instanceActions are what POST /local/cloud/instances/<id>/<action> makes the
// fake cloud do to an instance, as EC2 would: end it (its worker shut it down),
// take a spot instance back (a rebalance recommendation and the interruption
// warning now, the end two minutes later), or only recommend a rebalance.
var instanceActions = map[string]func(c *fakecloud.Cloud, id string) error{
	"shutdown":  (*fakecloud.Cloud).Shutdown,
	"interrupt": (*fakecloud.Cloud).Interrupt,
	"rebalance": (*fakecloud.Cloud).Rebalance,
}

// serveInstances answers GET /local/cloud/instances: every instance of the fake
// cloud, in launch order; and POST /local/cloud/instances/<id>/<action>
// (instanceActions).
func serveInstances(c *fakecloud.Cloud) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rest := strings.TrimPrefix(r.URL.Path, "/local/cloud/instances"); rest != "" && rest != "/" {
			instanceAction(c, w, r, strings.TrimPrefix(rest, "/"))
			return
		}
		if r.Method != "GET" {
			writeJSON(w, 405, map[string]string{"code": "MethodNotAllowed", "message": "GET only"})
			return
		}
		type instance struct {
			InstanceID       string            `json:"instanceId"`
			Region           string            `json:"region"`
			AvailabilityZone string            `json:"availabilityZone"`
			InstanceType     string            `json:"instanceType"`
			State            string            `json:"state"`
			Spot             bool              `json:"spot"`
			Tags             map[string]string `json:"tags"`
			LaunchTime       string            `json:"launchTime"`
		}
		all := c.AllInstances()
		out := make([]instance, 0, len(all))
		for _, i := range all {
			tags := i.Tags
			if tags == nil {
				tags = map[string]string{}
			}
			out = append(out, instance{InstanceID: i.ID, Region: i.Region, AvailabilityZone: i.AvailabilityZone, InstanceType: i.InstanceType,
				State: i.State, Spot: i.Spot, Tags: tags, LaunchTime: i.LaunchTime.UTC().Format(time.RFC3339)})
		}
		writeJSON(w, 200, out)
	}
}

// instanceAction serves POST /local/cloud/instances/<id>/<action>.
func instanceAction(c *fakecloud.Cloud, w http.ResponseWriter, r *http.Request, path string) {
	id, action, _ := strings.Cut(path, "/")
	do, ok := instanceActions[action]
	switch {
	case !ok || id == "":
		writeJSON(w, 404, map[string]string{"code": "ResourceNotFound",
			"message": "POST /local/cloud/instances/<instance id>/<shutdown, interrupt or rebalance>"})
		return
	case r.Method != "POST":
		writeJSON(w, 405, map[string]string{"code": "MethodNotAllowed", "message": "POST only"})
		return
	}
	if err := do(c, id); errors.Is(err, fakecloud.ErrNotFound) {
		writeJSON(w, 404, map[string]string{"code": "ResourceNotFound", "message": err.Error()})
		return
	} else if err != nil {
		writeJSON(w, 400, map[string]string{"code": "InputError", "message": err.Error()})
		return
	}
	inst, _ := c.Instance(id)
	writeJSON(w, 200, map[string]string{"instanceId": id, "action": action, "state": inst.State})
}

// metadataService plays EC2's instance metadata service for every fake instance, at
// /local/imds/<instanceId>/latest/...: the identity document and its signature,
// user data, the meta-data/ paths workers and worker-runner read, spot
// interruption notices, and IMDSv2 session tokens. Point a worker's metadata base
// URL (http://169.254.169.254/latest on EC2) at /local/imds/<instanceId>/latest.
//
// As on an instance whose metadata options allow both versions, a request without
// a session token is served (IMDSv1); one with a token is served only if the token
// is valid for that instance and not expired (401 otherwise).
type metadataService struct {
	cloud *fakecloud.Cloud
	key   []byte // signs session tokens
	now   func() time.Time
}

func newMetadataService(c *fakecloud.Cloud) *metadataService {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &metadataService{cloud: c, key: key, now: time.Now}
}

// maxTokenTTL is the longest IMDSv2 session EC2 grants (6 hours).
const maxTokenTTL = 21600

// metaDataKeys are the meta-data/ entries served, as EC2 lists them (and spot/
// once an interruption is announced).
var metaDataKeys = []string{"ami-id", "instance-id", "instance-life-cycle", "instance-type", "local-hostname", "local-ipv4",
	"placement/", "public-hostname", "public-ipv4"}

func (m *metadataService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/local/imds/"), "/")
	if id == "" {
		http.NotFound(w, r)
		return
	}
	if rest == "latest/api/token" {
		m.issueToken(w, r, id)
		return
	}
	if r.Method != "GET" && r.Method != "HEAD" {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if tok := r.Header.Get("X-aws-ec2-metadata-token"); tok != "" && !m.validToken(tok, id) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	body, err := m.lookup(id, strings.TrimPrefix(rest, "latest/"))
	if errors.Is(err, fakecloud.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(body)
}

// lookup answers one path below latest/ for instance id; an unknown instance or
// path is an error wrapping fakecloud.ErrNotFound.
func (m *metadataService) lookup(id, path string) ([]byte, error) {
	switch path {
	case "dynamic/instance-identity/document":
		doc, _, err := m.cloud.IdentityDocument(id)
		return doc, err
	case "dynamic/instance-identity/signature":
		_, sig, err := m.cloud.IdentityDocument(id)
		return []byte(sig), err
	case "user-data":
		ud, err := m.cloud.UserData(id)
		if err == nil && len(ud) == 0 {
			return nil, fmt.Errorf("instance %s has no user data: %w", id, fakecloud.ErrNotFound)
		}
		return ud, err
	}
	key, ok := strings.CutPrefix(path, "meta-data/")
	if !ok {
		return nil, fmt.Errorf("no metadata at %s: %w", path, fakecloud.ErrNotFound)
	}
	md, err := m.cloud.Metadata(id)
	if err != nil {
		return nil, err
	}
	lifecycle := "on-demand"
	if md.Spot {
		lifecycle = "spot"
	}
	values := map[string]string{
		"":                            strings.Join(metaDataKeys, "\n"),
		"ami-id":                      md.ImageID,
		"instance-id":                 md.InstanceID,
		"instance-life-cycle":         lifecycle,
		"instance-type":               md.InstanceType,
		"local-hostname":              md.LocalHostname,
		"local-ipv4":                  md.LocalIPv4,
		"public-hostname":             md.PublicHostname,
		"public-ipv4":                 md.PublicIPv4,
		"placement/":                  "availability-zone\nregion",
		"placement/availability-zone": md.AvailabilityZone,
		"placement/region":            md.Region,
	}
	if md.InterruptionAction != "" {
		at := md.InterruptionTime.UTC().Format("2006-01-02T15:04:05Z")
		values[""] += "\nspot/"
		values["spot/"] = "instance-action\ntermination-time"
		values["spot/instance-action"] = `{"action":"` + md.InterruptionAction + `","time":"` + at + `"}`
		values["spot/termination-time"] = at
	}
	v, ok := values[key]
	if !ok {
		return nil, fmt.Errorf("no metadata at %s: %w", path, fakecloud.ErrNotFound)
	}
	return []byte(v), nil
}

// issueToken answers PUT latest/api/token as IMDSv2 does: a session token for the
// number of seconds X-aws-ec2-metadata-token-ttl-seconds asks (1 to 21600), and
// 403 for a request that came through a proxy (X-Forwarded-For), as EC2 refuses them.
func (m *metadataService) issueToken(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != "PUT" {
		w.Header().Set("Allow", "PUT")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("X-Forwarded-For") != "" {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	ttl, err := strconv.Atoi(r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
	if err != nil || ttl < 1 || ttl > maxTokenTTL {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	if _, err := m.cloud.Metadata(id); err != nil {
		http.NotFound(w, r)
		return
	}
	expiry := m.now().Add(time.Duration(ttl) * time.Second).Unix()
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", strconv.Itoa(ttl))
	_, _ = io.WriteString(w, strconv.FormatInt(expiry, 10)+"."+m.tokenMAC(id, expiry))
}

// validToken reports whether tok is a session token issued for instance id that
// has not expired.
func (m *metadataService) validToken(tok, id string) bool {
	exp, mac, ok := strings.Cut(tok, ".")
	expiry, err := strconv.ParseInt(exp, 10, 64)
	if !ok || err != nil || m.now().Unix() >= expiry {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(m.tokenMAC(id, expiry)))
}

func (m *metadataService) tokenMAC(id string, expiry int64) string {
	h := hmac.New(sha256.New, m.key)
	fmt.Fprintf(h, "%s\n%d", id, expiry)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
