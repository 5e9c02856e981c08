package samtemplate_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cloudFrontFunction is the code of a CloudFront function of the template.
func cloudFrontFunction(t *testing.T, id string) string {
	t.Helper()
	doc, _ := document(t)
	code, _ := mapOf(mapOf(mapOf(doc["Resources"])[id])["Properties"])["FunctionCode"].(string)
	if code == "" {
		t.Fatalf("template.yaml has no CloudFront function %s with code", id)
	}
	return code
}

// runCloudFrontFunction runs a CloudFront function's handler under node on each
// event and returns its results as JSON. CloudFront's runtime is JavaScript (ES 5.1
// with some later features); node runs the same code.
func runCloudFrontFunction(t *testing.T, code string, events []map[string]any) []map[string]any {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	in, _ := json.Marshal(events)
	script := code + "\nvar evs = " + string(in) + ";\nconsole.log(JSON.stringify(evs.map(function (e) { return handler(e); })));\n"
	out, err := exec.Command("node", "-e", script).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var res []map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node printed %s: %v", out, err)
	}
	return res
}

// TestFrontDoorKeepsOurPathsFromTheUpstream: the CloudFront function on the
// distribution's default (Taskcluster) behaviour answers a 404 for every path whose
// normal form is workerfleet's, and passes every other one on unchanged: the same
// table the local stack's front door is tested on.
func TestFrontDoorKeepsOurPathsFromTheUpstream(t *testing.T) {
	_, dir := load(t)
	data, err := os.ReadFile(filepath.Join(dir, "shared/dev/localstack/testdata/frontdoor-paths.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Path string `json:"path"`
		Ours bool   `json:"ours"`
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	events := make([]map[string]any, len(cases))
	for i, c := range cases {
		events[i] = map[string]any{"request": map[string]any{"method": "GET", "uri": c.Path,
			"headers": map[string]any{"host": map[string]string{"value": "tc.example.com"}}}}
	}
	res := runCloudFrontFunction(t, cloudFrontFunction(t, "FrontDoorUpstreamPathFunction"), events)
	for i, c := range cases {
		r := res[i]
		if !c.Ours {
			if r["uri"] != c.Path {
				t.Errorf("%s: the function answered %v, want the request passed on unchanged", c.Path, r)
			}
			continue
		}
		body, _ := mapOf(r["body"])["data"].(string)
		var e map[string]string
		if r["statusCode"] != float64(404) || json.Unmarshal([]byte(body), &e) != nil || e["code"] != "ResourceNotFound" || e["message"] == "" {
			t.Errorf("%s: the function answered %v, want a 404 with a Taskcluster error body", c.Path, r)
		}
	}
	doc, _ := document(t)
	dist := mapOf(mapOf(mapOf(doc["Resources"])["FrontDoorDistribution"])["Properties"])["DistributionConfig"]
	assoc, _ := json.Marshal(mapOf(mapOf(dist)["DefaultCacheBehavior"])["FunctionAssociations"])
	if !strings.Contains(string(assoc), "FrontDoorUpstreamPathFunction") {
		t.Errorf("the distribution's default behaviour does not run FrontDoorUpstreamPathFunction: %s", assoc)
	}
}

// TestFrontDoorProvesItself (finding 4): the distribution sends workerfleet's origin
// the secret header the API functions compare (FRONT_DOOR_SECRET), from one secret.
func TestFrontDoorProvesItself(t *testing.T) {
	doc, _ := document(t)
	dist := mapOf(mapOf(mapOf(doc["Resources"])["FrontDoorDistribution"])["Properties"])["DistributionConfig"]
	origins, _ := mapOf(dist)["Origins"].([]any)
	var sent string
	for _, o := range origins {
		if mapOf(o)["Id"] != "workerfleet" {
			continue
		}
		hs, _ := mapOf(o)["OriginCustomHeaders"].([]any)
		for _, h := range hs {
			if mapOf(h)["HeaderName"] == "X-Workerfleet-Front-Door" {
				b, _ := json.Marshal(mapOf(h)["HeaderValue"])
				sent = string(b)
			}
		}
	}
	env, _ := json.Marshal(mapOf(mapOf(mapOf(doc["Globals"])["Function"])["Environment"])["Variables"].(map[string]any)["FRONT_DOOR_SECRET"])
	const ref = "{{resolve:secretsmanager:${FrontDoorSecret}}}"
	if !strings.Contains(sent, ref) || !strings.Contains(string(env), ref) {
		t.Errorf("the workerfleet origin sends X-Workerfleet-Front-Door %s and the functions compare FRONT_DOOR_SECRET %s; want both %s", sent, env, ref)
	}
}
