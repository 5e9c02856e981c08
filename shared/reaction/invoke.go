package reaction

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// LambdaAPI is the Lambda call the Invoker makes; *lambda.Client satisfies it.
type LambdaAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// Invoker runs iterations by invoking the provisioner function synchronously with
// a wake event (Loop.Iterate).
type Invoker struct {
	Client   LambdaAPI
	Function string // its name or ARN
}

// Iterate invokes the provisioner for tr and reads its Result.
func (iv *Invoker) Iterate(ctx context.Context, tr Trigger) (Outcome, error) {
	ev, err := WakeEvent(tr)
	if err != nil {
		return Outcome{}, err
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return Outcome{}, fmt.Errorf("wake event: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, InvokeTimeout)
	defer cancel()
	out, err := iv.Client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(iv.Function),
		InvocationType: lambdatypes.InvocationTypeRequestResponse,
		Payload:        payload,
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("invoke %s: %w", iv.Function, err)
	}
	if out.FunctionError != nil {
		return Outcome{}, fmt.Errorf("invoke %s: %s: %s", iv.Function, aws.ToString(out.FunctionError), firstLine(string(out.Payload)))
	}
	var res Result
	if err := json.Unmarshal(out.Payload, &res); err != nil {
		return Outcome{}, fmt.Errorf("invoke %s: its answer is not a result: %w", iv.Function, err)
	}
	return res.Outcome(), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
