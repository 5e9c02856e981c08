package pool

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func FuzzParseWorkerType(f *testing.F) {
	f.Add([]byte(minimalWorkerTypeJSON))
	f.Add(readTestdata(f, "workertype.json"))
	f.Add([]byte(`{"regions":[{"region":"us-east-1","launchSpec":{"ImageId":""}}],"instanceTypes":[{"utility":1e-320,"capacity":0}],"maxPrice":1e308}`))
	f.Add([]byte(`{"availabilityZones":[{"region":"us-east-1","availabilityZone":"us-east-1a","launchSpec":{"Placement":null}}]}`))
	f.Add([]byte(`[1, {"a": -0}]`))
	f.Add([]byte(`{"launchSpec": {"n": 1e999}}`))
	validate := func(spec json.RawMessage) error {
		if !json.Valid(spec) {
			return errors.New("not JSON")
		}
		return nil
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := ParseWorkerType(body, ParseOptions{ValidateLaunchSpec: validate})
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || len(ie.Problems) == 0 {
				t.Fatalf("error %v (%T) is not an *InvalidError with problems", err, err)
			}
			return
		}
		again, err := ParseWorkerType(w.Definition(), ParseOptions{})
		if err != nil {
			t.Fatalf("the canonical definition %s does not parse: %v", w.Definition(), err)
		}
		if !Equal(again, w) {
			t.Fatalf("the canonical definition changed on a round trip:\n%s\n%s", w.Definition(), again.Definition())
		}
		if len(w.Options()) == 0 {
			t.Fatalf("a valid worker type has no options: %s", w.Definition())
		}
		if specs := w.LaunchSpecs("fuzz", time.Unix(0, 0), UserDataContext{RootURL: "https://tc.example.com"}); !json.Valid(specs) {
			t.Fatalf("LaunchSpecs is not JSON: %s", specs)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add("aws", []byte(minimalAWSConfigJSON))
	f.Add("aws", []byte(twoLaunchConfigsJSON))
	f.Add("aws", []byte(`{"demand":{"source":"sqs","queueUrl":5},"launchConfigs":[{"launchConfig":{"Placement":{"AvailabilityZone":1}}}]}`))
	f.Add("static", []byte(`{"lifecycle":{"reregistrationTimeout":1e400}}`))
	f.Add("null-provider", []byte(`{"a":[1.0,null]}`))
	f.Add("gcp", []byte(`{}`))
	f.Fuzz(func(t *testing.T, providerID string, config []byte) {
		cfg, err := ParseConfig(providerID, config, ParseOptions{})
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || len(ie.Problems) == 0 {
				t.Fatalf("error %v (%T) is not an *InvalidError with problems", err, err)
			}
			return
		}
		again, err := ParseConfig(providerID, cfg.JSON(), ParseOptions{})
		if err != nil {
			t.Fatalf("the canonical config %s does not parse: %v", cfg.JSON(), err)
		}
		if string(again.JSON()) != string(cfg.JSON()) {
			t.Fatalf("the canonical config changed on a round trip:\n%s\n%s", cfg.JSON(), again.JSON())
		}
		for _, o := range cfg.Options() {
			if _, err := PoolUserData("https://tc.example.com", "p/b", "aws", "aws", o); err != nil {
				t.Fatalf("PoolUserData for a valid config: %v", err)
			}
		}
	})
}
