package awsenv

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// ResolveParameters replaces each <NAME>_PARAMETER variable that is set by the decrypted
// value of that SSM parameter under <NAME>, read once at init: secrets such as the stream
// token key must be the same in every function, so they live in SSM, not in each process.
func ResolveParameters(ctx context.Context, c Config, getenv func(string) string,
	names ...string) (func(string) string, error) {
	found := map[string]string{}
	var client *ssm.Client
	for _, name := range names {
		param := getenv(name + "_PARAMETER")
		if param == "" {
			continue
		}
		if client == nil {
			ac, err := config.LoadDefaultConfig(ctx, config.WithRegion(c.Region))
			if err != nil {
				return nil, fmt.Errorf("load aws config: %w", err)
			}
			client = ssm.NewFromConfig(ac)
		}
		out, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param),
			WithDecryption: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("read parameter %s: %w", param, err)
		}
		found[name] = aws.ToString(out.Parameter.Value)
	}
	return func(k string) string {
		if v, ok := found[k]; ok {
			return v
		}
		return getenv(k)
	}, nil
}
