package samtemplate_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestProvisioningPausedDisablesTheSchedule: ProvisioningPaused=true, the emergency
// brake of docs/operations.md, disables every schedule that invokes the provisioner
// (its own, and with Reaction=on the reaction function's: no iteration, nothing
// launched, nothing terminated) and quiets the missed-iterations alarm; false runs
// them.
func TestProvisioningPausedDisablesTheSchedule(t *testing.T) {
	for _, tt := range []struct {
		paused, state string
		alarmActions  bool
	}{
		{"false", "ENABLED", true},
		{"true", "DISABLED", false},
	} {
		e := newPolicyEval(t, map[string]string{"ProvisioningPaused": tt.paused, "Reaction": "on"})
		res := mapOf(e.doc["Resources"])
		scheduled := map[string]bool{}
		for id, r := range res {
			if c, ok := mapOf(r)["Condition"].(string); ok && !e.condition(c) {
				continue
			}
			for name, ev := range mapOf(mapOf(mapOf(r)["Properties"])["Events"]) {
				if mapOf(ev)["Type"] == "ScheduleV2" {
					scheduled[id] = true
					if state := e.resolve(mapOf(mapOf(ev)["Properties"])["State"]); state != tt.state {
						t.Errorf("ProvisioningPaused=%s: %s's schedule %s is %v, want %s", tt.paused, id, name, state, tt.state)
					}
				}
			}
		}
		if !scheduled["ProvisionerFunction"] || !scheduled["ReactionFunction"] {
			t.Errorf("ProvisioningPaused=%s: schedules of %v, want the provisioner's and the reaction function's", tt.paused, scheduled)
		}
		enabled := e.resolve(mapOf(mapOf(res["ProvisionerMissedIterationsAlarm"])["Properties"])["ActionsEnabled"])
		if enabled != tt.alarmActions {
			t.Errorf("ProvisioningPaused=%s: the missed-iterations alarm's ActionsEnabled is %v, want %v", tt.paused, enabled, tt.alarmActions)
		}
	}
}

// TestEc2BudgetIsOptionalAndNotifiesTheAlarmsRecipients: MonthlyEc2Budget=0 (the
// default) makes no budget; a figure makes one on EC2 compute in US dollars, which
// notifies AlarmEmail by email and AlarmTopicArn through SNS, whichever are set.
func TestEc2BudgetIsOptionalAndNotifiesTheAlarmsRecipients(t *testing.T) {
	for _, tt := range []struct {
		name   string
		params map[string]string
		budget bool
		want   string // the subscribers of each notification, as JSON
	}{
		{"default", nil, false, ""},
		{"budget, no recipients", map[string]string{"MonthlyEc2Budget": "500"}, true, "null"},
		{"budget and email", map[string]string{"MonthlyEc2Budget": "500", "AlarmEmail": "ops@example.com"}, true,
			`[{"Address":"ops@example.com","SubscriptionType":"EMAIL"}]`},
		{"budget, email and topic", map[string]string{"MonthlyEc2Budget": "500", "AlarmEmail": "ops@example.com", "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:pager"}, true,
			`[{"Address":"ops@example.com","SubscriptionType":"EMAIL"},{"Address":"arn:aws:sns:us-east-1:123456789012:pager","SubscriptionType":"SNS"}]`},
	} {
		e := newPolicyEval(t, tt.params)
		r := mapOf(mapOf(e.doc["Resources"])["Ec2Budget"])
		if got := e.condition(r["Condition"].(string)); got != tt.budget {
			t.Errorf("%s: budget %v, want %v", tt.name, got, tt.budget)
		}
		if !tt.budget {
			continue
		}
		props := mapOf(e.resolve(r["Properties"]))
		b := mapOf(props["Budget"])
		if amount := mapOf(b["BudgetLimit"]); amount["Amount"] != "500" || amount["Unit"] != "USD" {
			t.Errorf("%s: limit %v", tt.name, amount)
		}
		if f, _ := json.Marshal(b["CostFilters"]); string(f) != `{"Service":["Amazon Elastic Compute Cloud - Compute"]}` {
			t.Errorf("%s: cost filters %s", tt.name, f)
		}
		notes, _ := props["NotificationsWithSubscribers"].([]any)
		if tt.want == "null" {
			if notes != nil {
				t.Errorf("%s: notifications without recipients: %v", tt.name, notes)
			}
			continue
		}
		if len(notes) != 2 {
			t.Fatalf("%s: %d notifications, want at 80%% actual and 100%% forecast", tt.name, len(notes))
		}
		for _, n := range notes {
			if subs, _ := json.Marshal(mapOf(n)["Subscribers"]); string(subs) != tt.want {
				t.Errorf("%s: subscribers %s, want %s", tt.name, subs, tt.want)
			}
		}
	}
}

// TestStatefulResourcesSayWhatHappensToThem: every table, secret and log group says
// what deletion and replacement do to it (cfn-lint -i I reported six that did not),
// and the key that seals the clients' tokens survives whatever ClientsTable survives
// (it was deleted with the stack while the table was kept, so a kept table's clients
// could never be read again).
func TestStatefulResourcesSayWhatHappensToThem(t *testing.T) {
	doc, _ := document(t)
	res := mapOf(doc["Resources"])
	for id, r := range res {
		switch mapOf(r)["Type"] {
		case "AWS::DynamoDB::Table", "AWS::SecretsManager::Secret", "AWS::Logs::LogGroup":
			for _, key := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
				if mapOf(r)[key] == nil {
					t.Errorf("%s has no %s", id, key)
				}
			}
		}
	}
	key, clients := mapOf(res["SigningKeySecret"]), mapOf(res["ClientsTable"])
	for _, p := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
		if key[p] != clients[p] || clients[p] != "Retain" {
			t.Errorf("%s: SigningKeySecret %v, ClientsTable %v; want both Retain", p, key[p], clients[p])
		}
	}
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		t.Skip("cfn-lint is not installed (pip install cfn-lint aws-sam-translator)")
	}
	out, _ := exec.Command("cfn-lint", "--include-checks", "I", "--format", "parseable", "--", mustFind(t)).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "I3011") {
			t.Errorf("cfn-lint -i I: %s", line)
		}
	}
}

// TestDeployerPermissionsNameEveryServiceTheTemplateUses: the deployer's permissions
// table in docs/deploying.md has a row for the service of every resource type the
// template creates (FrontDoor=cloudfront's CloudFront and the budget's Budgets were
// missing), and names the CloudFront actions the distribution and its function need.
func TestDeployerPermissionsNameEveryServiceTheTemplateUses(t *testing.T) {
	doc, dir := document(t)
	data, err := os.ReadFile(filepath.Join(dir, "docs", "deploying.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\| ([^|]+) \| (.+) \|$`).FindAllStringSubmatch(string(data), -1) {
		rows[strings.TrimSpace(m[1])] = m[2]
	}
	service := map[string]string{
		"AWS::DynamoDB": "DynamoDB", "AWS::SecretsManager": "Secrets Manager", "AWS::Logs": "CloudWatch and Logs",
		"AWS::CloudWatch": "CloudWatch and Logs", "AWS::SNS": "SNS (with `AlarmEmail`)", "AWS::CloudFront": "CloudFront (with `FrontDoor=cloudfront`)",
		"AWS::Budgets": "Budgets (with `MonthlyEc2Budget`)", "AWS::Serverless::Function": "Lambda", "AWS::Serverless::HttpApi": "API Gateway",
		"AWS::Lambda": "Lambda", "AWS::Events": "EventBridge and Scheduler", "AWS::IAM": "IAM",
		"AWS::SQS": "SQS (with `Reaction=on`: its signal queue)",
	}
	for id, r := range mapOf(doc["Resources"]) {
		typ, _ := mapOf(r)["Type"].(string)
		prefix := typ
		if !strings.HasPrefix(typ, "AWS::Serverless::") {
			prefix = typ[:strings.LastIndex(typ, "::")]
		}
		row, ok := service[prefix]
		if !ok {
			t.Errorf("%s (%s): which row of the deployer's permissions covers it? (add it to this test and the table)", id, typ)
			continue
		}
		if _, ok := rows[row]; !ok {
			t.Errorf("%s (%s): the deployer's permissions have no row %q", id, typ, row)
		}
	}
	for _, action := range []string{"CreateDistribution", "UpdateDistribution", "DeleteDistribution", "GetDistribution",
		"CreateFunction", "UpdateFunction", "PublishFunction", "DeleteFunction", "DescribeFunction"} {
		if !strings.Contains(rows["CloudFront (with `FrontDoor=cloudfront`)"], "`"+action+"`") {
			t.Errorf("the CloudFront row lacks %s", action)
		}
	}
}
