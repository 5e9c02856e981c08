package launchspec_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2/launchspec"
)

func TestDecode(t *testing.T) {
	got, err := launchspec.Decode(json.RawMessage(`{"SubnetId": "subnet-1", "securityGroupIds": ["sg-1"],
		"BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 50, "VolumeType": "gp3", "DeleteOnTermination": true}}],
		"MetadataOptions": {"HttpTokens": "required"}, "InstanceInitiatedShutdownBehavior": "terminate"}`))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if aws.ToString(got.SubnetId) != "subnet-1" || len(got.SecurityGroupIds) != 1 ||
		aws.ToInt32(got.BlockDeviceMappings[0].Ebs.VolumeSize) != 50 || got.BlockDeviceMappings[0].Ebs.VolumeType != types.VolumeTypeGp3 ||
		got.MetadataOptions.HttpTokens != types.HttpTokensStateRequired || got.InstanceInitiatedShutdownBehavior != types.ShutdownBehaviorTerminate {
		t.Errorf("Decode = %+v, want every field decoded", got)
	}
	for _, empty := range []string{"", "  ", "null", "{}"} {
		if _, err := launchspec.Decode(json.RawMessage(empty)); err != nil {
			t.Errorf("Decode(%q) = %v, want an empty input", empty, err)
		}
	}
	for _, tc := range []struct{ spec, code string }{
		{`{"SubnetID": "x", "Flavour": 1}`, "UnknownParameter"},
		{`{"SubnetId": 7}`, "InvalidParameterValue"},
		{`[]`, "InvalidParameterValue"},
		{`"x"`, "InvalidParameterValue"},
		{`{"SubnetId": "x"} {"KeyName": "y"}`, "InvalidParameterValue"},
		{`{"SubnetId": "x"`, "InvalidParameterValue"},
		{`{"TagSpecifications": [{"ResourceType": "network-interface", "Tags": []}]}`, "InvalidParameterValue"},
	} {
		_, err := launchspec.Decode(json.RawMessage(tc.spec))
		if !cloud.IsConfigError(err) || cloud.ErrorCode(err) != tc.code {
			t.Errorf("Decode(%s) = %v, want the ConfigError %s", tc.spec, err, tc.code)
		}
		if err2 := launchspec.Validate(json.RawMessage(tc.spec)); cloud.ErrorCode(err2) != tc.code {
			t.Errorf("Validate(%s) = %v, want %s", tc.spec, err2, tc.code)
		}
	}
	if err := launchspec.Validate(json.RawMessage(`{"KeyName": "k"}`)); err != nil {
		t.Errorf("Validate(valid) = %v", err)
	}
}
