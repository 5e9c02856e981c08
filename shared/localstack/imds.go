package localstack

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud/fake"
)

// serveInstances answers GET /local/cloud/instances: every instance of the fake
// cloud, in launch order.
func serveInstances(c *fake.Cloud) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
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

// serveIMDS answers /local/imds/<instanceId>/latest/... as EC2's instance metadata
// service does for that instance: dynamic/instance-identity/document and .../signature
// (text), and user-data (the raw bytes); an unknown instance is a 404.
func serveIMDS(c Machines) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/local/imds/"), "/")
		if r.Method != "GET" || id == "" {
			http.NotFound(w, r)
			return
		}
		var body []byte
		var err error
		switch rest {
		case "latest/dynamic/instance-identity/document":
			body, _, err = c.IdentityDocument(id)
		case "latest/dynamic/instance-identity/signature":
			var sig string
			_, sig, err = c.IdentityDocument(id)
			body = []byte(sig)
		case "latest/user-data":
			body, err = c.UserData(id)
		default:
			http.NotFound(w, r)
			return
		}
		if errors.Is(err, fake.ErrNotFound) {
			http.NotFound(w, r)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	}
}
