package template

import (
	"encoding/json"
	"slices"
	"testing"
)

type getAtt struct {
	FnGetAtt []string `json:"Fn::GetAtt"`
}

type queueProps struct {
	RedrivePolicy *struct {
		DeadLetterTargetArn getAtt `json:"deadLetterTargetArn"`
		MaxReceiveCount     int    `json:"maxReceiveCount"`
	}
}

func TestSweeperRunsEveryMinute(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	fn := tpl.function(t, functionID(sweeperName))
	var found int
	for name, ev := range fn.Events {
		var p struct{ Schedule string }
		if err := json.Unmarshal(ev.Properties, &p); err != nil {
			t.Fatalf("event %s: %v", name, err)
		}
		if ev.Type == "Schedule" && p.Schedule == "rate(1 minute)" {
			found++
		}
	}
	if found != 1 || len(fn.Events) != 1 {
		t.Errorf("sweeper events = %v, want one Schedule rate(1 minute)", fn.Events)
	}
}

// TestDeadLetterFunctionDrainsEveryDLQ: one SQS event per dead-letter queue, each reporting
// per-item failures so one bad message does not return the whole batch.
func TestDeadLetterFunctionDrainsEveryDLQ(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	dlqs := deadLetterQueues(t, tpl)
	if len(dlqs) != 6 {
		t.Errorf("%d queues have a dead-letter queue, want 6: %v", len(dlqs), dlqs)
	}
	fn := tpl.function(t, functionID(deadLetterName))
	var drained []string
	for name, ev := range fn.Events {
		var p struct {
			Queue                 getAtt
			FunctionResponseTypes []string
		}
		if err := json.Unmarshal(ev.Properties, &p); err != nil || ev.Type != "SQS" {
			t.Errorf("event %s: type %s, %v; want an SQS event", name, ev.Type, err)
			continue
		}
		if !slices.Contains(p.FunctionResponseTypes, "ReportBatchItemFailures") {
			t.Errorf("event %s lacks FunctionResponseTypes ReportBatchItemFailures", name)
		}
		if len(p.Queue.FnGetAtt) == 2 {
			drained = append(drained, p.Queue.FnGetAtt[0])
		}
	}
	slices.Sort(drained)
	if !slices.Equal(drained, dlqs) {
		t.Errorf("dead-letter function drains %v, want %v", drained, dlqs)
	}
}

// deadLetterQueues returns, sorted, the queues named as another queue's dead-letter target.
func deadLetterQueues(t *testing.T, tpl *samTemplate) []string {
	t.Helper()
	var out []string
	for id, res := range tpl.Resources {
		if res.Type != "AWS::SQS::Queue" {
			continue
		}
		var q queueProps
		if err := json.Unmarshal(res.Properties, &q); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if q.RedrivePolicy == nil {
			continue
		}
		if q.RedrivePolicy.MaxReceiveCount != 10 {
			t.Errorf("%s maxReceiveCount = %d, want 10", id, q.RedrivePolicy.MaxReceiveCount)
		}
		if arn := q.RedrivePolicy.DeadLetterTargetArn.FnGetAtt; len(arn) == 2 {
			out = append(out, arn[0])
		}
	}
	slices.Sort(out)
	return out
}
