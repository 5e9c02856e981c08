package samtemplate_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
	"github.com/workerfleet/workerfleet/shared/store"
)

func load(t *testing.T) (*samtemplate.Template, string) {
	t.Helper()
	path, err := samtemplate.Find()
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := samtemplate.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl, filepath.Dir(path)
}

func TestParseShortFormTags(t *testing.T) {
	tmpl, err := samtemplate.Parse([]byte(`
Parameters:
  Name: {Type: String, Default: x}
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
  F:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: makefile}
    Properties:
      CodeUri: .
      Environment:
        Variables:
          A: !Ref T
          B: !GetAtt T.Arn
          C: !Sub "${T}-x"
          D: !If [Cond, !Ref Name, !Join [",", [a, b]]]
      Events:
        Get: {Type: HttpApi, Properties: {Method: get, Path: "/x/{id+}"}}
        Tick: {Type: ScheduleV2, Properties: {ScheduleExpression: !Ref Name}}
`))
	if err != nil {
		t.Fatal(err)
	}
	env := tmpl.Resources["F"].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	want := map[string]any{
		"A": map[string]any{"Ref": "T"},
		"B": map[string]any{"Fn::GetAtt": []any{"T", "Arn"}},
		"C": map[string]any{"Fn::Sub": "${T}-x"},
		"D": map[string]any{"Fn::If": []any{"Cond", map[string]any{"Ref": "Name"}, map[string]any{"Fn::Join": []any{",", []any{"a", "b"}}}}},
	}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("short-form tags (-want +got):\n%s", diff)
	}
	f := tmpl.Functions["F"]
	if len(f.Routes) != 1 || f.Routes[0].Key() != "GET /x/{id+}" || f.BuildMethod != "makefile" {
		t.Errorf("function = %+v", f)
	}
	if len(f.Schedules) != 1 || f.Schedules[0].Type != "ScheduleV2" {
		t.Errorf("schedules = %+v", f.Schedules)
	}
	if tab := tmpl.Tables["T"]; tab.HashKey != "id" || tab.TTLAttribute != "ttl" {
		t.Errorf("table = %+v", tab)
	}
}

// folder is the code folder of a function, by convention: AwsProvisionerApiFunction
// lives in functions/aws-provisioner-api.
func folder(logicalID string) string {
	name := strings.TrimSuffix(logicalID, "Function")
	name = regexp.MustCompile(`([a-z0-9])([A-Z])`).ReplaceAllString(name, "$1-$2")
	return strings.ToLower(name)
}

// TestEveryFunctionHasCodeAndABuildTarget: each function's folder exists with a main
// package, and `make build-<LogicalId>` (which SAM runs) builds exactly that folder as
// a static arm64 Lambda bootstrap.
func TestEveryFunctionHasCodeAndABuildTarget(t *testing.T) {
	tmpl, root := load(t)
	if len(tmpl.Functions) < 6 {
		t.Fatalf("template has %d functions, want at least 6", len(tmpl.Functions))
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	for id, f := range tmpl.Functions {
		t.Run(id, func(t *testing.T) {
			dir := filepath.Join("functions", folder(id))
			if _, err := os.Stat(filepath.Join(root, dir, "main.go")); err != nil {
				t.Fatalf("function %s: %s/main.go: %v", id, dir, err)
			}
			if f.BuildMethod != "makefile" || f.CodeURI != "." {
				t.Errorf("function %s: BuildMethod %q CodeUri %q, want makefile and .", id, f.BuildMethod, f.CodeURI)
			}
			cmd := exec.Command("make", "-n", "build-"+id, "ARTIFACTS_DIR=/artifacts")
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n build-%s: %v\n%s", id, err, out)
			}
			for _, want := range []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "lambda.norpc", "-trimpath", "-s -w", "-o /artifacts/bootstrap", "./" + dir} {
				if !strings.Contains(string(out), want) {
					t.Errorf("make build-%s does not contain %q:\n%s", id, want, out)
				}
			}
		})
	}
	// And the other way round: no folder under functions/ without a function.
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	folders := map[string]bool{}
	for id := range tmpl.Functions {
		folders[folder(id)] = true
	}
	for _, e := range entries {
		if e.IsDir() && !folders[e.Name()] {
			t.Errorf("functions/%s has no function in template.yaml", e.Name())
		}
	}
}

// TestTablesMatchTheStore: every table the store uses is in the template with the key
// schema, index and TTL the code expects, on demand, encrypted, with PITR; and the
// template defines no table the code does not use.
func TestTablesMatchTheStore(t *testing.T) {
	tmpl, _ := load(t)
	got := map[string][2]string{}
	for id, tab := range tmpl.Tables {
		got[id] = [2]string{tab.HashKey, tab.RangeKey}
		for _, idx := range tab.Indexes {
			got[id+"/"+idx.Name] = [2]string{idx.HashKey, idx.RangeKey}
		}
		if tab.TTLAttribute != "" {
			got[id+"#ttl"] = [2]string{tab.TTLAttribute, ""}
		}
		if tab.BillingMode != "PAY_PER_REQUEST" || !tab.PITR || !tab.SSE {
			t.Errorf("table %s: billing %q pitr %v sse %v; want on demand, PITR and encryption", id, tab.BillingMode, tab.PITR, tab.SSE)
		}
		for _, key := range []string{tab.HashKey, tab.RangeKey} {
			if key != "" && tab.Attributes[key] != "S" {
				t.Errorf("table %s: key %s is type %q, the store uses strings", id, key, tab.Attributes[key])
			}
		}
	}
	if diff := cmp.Diff(store.Schema, got); diff != "" {
		t.Errorf("template tables vs store.Schema (-code +template):\n%s", diff)
	}
}

// TestChangesIndexProjectsWhatTheProvisionerReads: the changes index holds the
// attributes the provisioner decodes (store.ProvisionerAttributes), no fewer (a
// record read from it would lack one) and no more (each costs write units), and
// its range key is a number (milliseconds).
func TestChangesIndexProjectsWhatTheProvisionerReads(t *testing.T) {
	tmpl, _ := load(t)
	tab := tmpl.Tables[store.LogicalIDs.Workers]
	var idx *samtemplate.Index
	for i := range tab.Indexes {
		if tab.Indexes[i].Name == "changes" {
			idx = &tab.Indexes[i]
		}
	}
	if idx == nil {
		t.Fatal("the workers table has no changes index")
	}
	keys := map[string]bool{tab.HashKey: true, tab.RangeKey: true, idx.HashKey: true, idx.RangeKey: true}
	var want []string
	for _, a := range store.ProvisionerAttributes {
		if !keys[a] {
			want = append(want, a)
		}
	}
	got := append([]string(nil), idx.NonKeyAttributes...)
	sort.Strings(got)
	sort.Strings(want)
	if idx.Projection != "INCLUDE" {
		t.Errorf("changes index projection %s, want INCLUDE", idx.Projection)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes index attributes (-provisioner's +template):\n%s", diff)
	}
	if typ := tab.Attributes[idx.RangeKey]; typ != "N" {
		t.Errorf("changes index range key %s has type %q, want N", idx.RangeKey, typ)
	}
}

// TestTemplateEnvironmentNamesEveryTable: the functions learn table names from the
// environment; each table must be passed in.
func TestTemplateEnvironmentNamesEveryTable(t *testing.T) {
	tmpl, _ := load(t)
	data, err := os.ReadFile(mustFind(t))
	if err != nil {
		t.Fatal(err)
	}
	globals := globalEnv(t, data)
	var refs []string
	for _, v := range globals {
		if m, ok := v.(map[string]any); ok {
			if r, ok := m["Ref"].(string); ok {
				refs = append(refs, r)
			}
		}
	}
	sort.Strings(refs)
	for id := range tmpl.Tables {
		if i := sort.SearchStrings(refs, id); i >= len(refs) || refs[i] != id {
			t.Errorf("table %s is not named in Globals.Function.Environment", id)
		}
	}
}

func mustFind(t *testing.T) string {
	t.Helper()
	p, err := samtemplate.Find()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func globalEnv(t *testing.T, data []byte) map[string]any {
	t.Helper()
	tmpl, err := samtemplate.ParseDocument(data)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := tmpl["Globals"].(map[string]any)
	f, _ := g["Function"].(map[string]any)
	e, _ := f["Environment"].(map[string]any)
	v, _ := e["Variables"].(map[string]any)
	return v
}

// TestCfnLint runs cfn-lint (which validates SAM templates as `sam validate --lint`
// does) when it is installed, standalone and in Taskcluster mode with and without the
// CloudFront front door; `make lint` runs it too and says how to install it.
func TestCfnLint(t *testing.T) {
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		t.Skip("cfn-lint is not installed (pip install cfn-lint aws-sam-translator)")
	}
	taskcluster := []string{"TaskclusterRootUrl=https://tc.example.com", "TaskclusterClientId=static/workerfleet",
		"TaskclusterAccessTokenSecretName=workerfleet/taskcluster-client"}
	for name, params := range map[string][]string{
		"standalone":       nil,
		"Taskcluster mode": append([]string{"PublicRootUrl=https://tc.example.com"}, taskcluster...),
		"paused, with a budget and both recipients": {"ProvisioningPaused=true", "MonthlyEc2Budget=500", "AlarmEmail=ops@example.com",
			"AlarmTopicArn=arn:aws:sns:us-east-1:123456789012:pager", "ApiThrottleRateLimit=500", "ApiThrottleBurstLimit=1000"},
		"front door with its domain": append([]string{"FrontDoor=cloudfront", "FrontDoorDomainName=tc.example.com", "TaskclusterOriginDomain=ingress.tc.example.com", "FrontDoorCertificateArn=arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000"}, taskcluster...),
	} {
		args := []string{mustFind(t)}
		if len(params) > 0 {
			args = append(args, append([]string{"--parameters"}, params...)...)
		}
		out, err := exec.Command("cfn-lint", args...).CombinedOutput()
		if err != nil {
			t.Errorf("cfn-lint template.yaml (%s): %v\n%s", name, err, out)
		}
	}
}

// TestREADMEListsTheProvisionerCloudPermissions: every EC2 and IAM action the
// provisioner's policy grants is in the permissions table (docs/provisioning.md), and the table
// names no action the policy lacks.
func TestREADMEListsTheProvisionerCloudPermissions(t *testing.T) {
	doc, dir := document(t)
	fn, _ := doc["Resources"].(map[string]any)["ProvisionerFunction"].(map[string]any)
	props, _ := fn["Properties"].(map[string]any)
	granted := map[string]bool{}
	policies, _ := props["Policies"].([]any)
	for _, p := range policies {
		statements, _ := p.(map[string]any)["Statement"].([]any)
		for _, st := range statements {
			actions, _ := st.(map[string]any)["Action"].([]any)
			for _, a := range actions {
				if s, _ := a.(string); strings.HasPrefix(s, "ec2:") || strings.HasPrefix(s, "iam:") {
					granted[s] = true
				}
			}
		}
	}
	if len(granted) == 0 {
		t.Fatal("found no ec2: or iam: action in ProvisionerFunction's policies")
	}
	readme, err := os.ReadFile(filepath.Join(dir, "docs", "provisioning.md"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("`((?:ec2|iam):[A-Za-z]+)`").FindAllStringSubmatch(string(readme), -1) {
		listed[m[1]] = true
	}
	for a := range granted {
		if !listed[a] {
			t.Errorf("template.yaml grants %s to the provisioner; the permissions table (docs/provisioning.md) does not list it", a)
		}
	}
	for a := range listed {
		if !granted[a] {
			t.Errorf("docs/provisioning.md lists %s; the provisioner's policy does not grant it", a)
		}
	}
}

// TestDocsLinksResolve: every relative link of the README, the CHANGELOG and docs/
// names a file that exists, and every #anchor a heading of the file it points into.
func TestDocsLinksResolve(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files := append([]string{filepath.Join(root, "README.md"), filepath.Join(root, "CHANGELOG.md")}, docs...)
	heading := regexp.MustCompile("(?m)^#+ (.*)$")
	anchorOf := func(h string) string {
		h = strings.ToLower(strings.TrimSpace(strings.ReplaceAll(h, "`", "")))
		h = regexp.MustCompile(`[^a-z0-9 _-]`).ReplaceAllString(h, "")
		return strings.ReplaceAll(h, " ", "-")
	}
	anchors := map[string]map[string]bool{}
	read := func(path string) (string, bool) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", false
		}
		if anchors[path] == nil {
			anchors[path] = map[string]bool{}
			for _, m := range heading.FindAllStringSubmatch(string(b), -1) {
				anchors[path][anchorOf(m[1])] = true
			}
		}
		return string(b), true
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	code := regexp.MustCompile("(?s)```.*?```|`[^`\n]*`") // code is not prose: its brackets are no links
	for _, f := range files {
		text, ok := read(f)
		if !ok {
			t.Fatalf("%s is missing", f)
		}
		text = code.ReplaceAllString(text, "")
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			into := f
			if path != "" {
				into = filepath.Join(filepath.Dir(f), path)
				if _, err := os.Stat(into); err != nil {
					t.Errorf("%s links to %s, which does not exist", f, target)
					continue
				}
			}
			if frag == "" || !strings.HasSuffix(into, ".md") {
				continue
			}
			if _, ok := read(into); ok && !anchors[into][frag] {
				t.Errorf("%s links to %s: no heading of %s has that anchor", f, target, into)
			}
		}
	}
}
