package template

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// cfnValue turns a YAML node of a CloudFormation template into plain Go values, writing the
// short tags (!Ref, !Sub, !GetAtt, !If, ...) in their long JSON form, so the template can be
// decoded into structs like the JSON CloudFormation itself sees.
func cfnValue(n *yaml.Node) (any, error) {
	v, err := plainValue(n)
	if err != nil || !isShortTag(n.Tag) {
		return v, err
	}
	return intrinsic(strings.TrimPrefix(n.Tag, "!"), v), nil
}

// isShortTag reports a CloudFormation tag such as !Ref, as opposed to YAML's own !!str.
func isShortTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}

func plainValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: want one YAML document", n.Line)
		}
		return cfnValue(n.Content[0])
	case yaml.AliasNode:
		return cfnValue(n.Alias)
	case yaml.MappingNode:
		return mappingValue(n)
	case yaml.SequenceNode:
		return sequenceValue(n)
	}
	if isShortTag(n.Tag) {
		return n.Value, nil // !Ref Name: the scalar's text is the argument
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, fmt.Errorf("line %d: %w", n.Line, err)
	}
	return v, nil
}

func mappingValue(n *yaml.Node) (any, error) {
	m := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", n.Content[i].Line, key)
		}
		v, err := cfnValue(n.Content[i+1])
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
	return m, nil
}

func sequenceValue(n *yaml.Node) (any, error) {
	s := make([]any, 0, len(n.Content))
	for _, c := range n.Content {
		v, err := cfnValue(c)
		if err != nil {
			return nil, err
		}
		s = append(s, v)
	}
	return s, nil
}

// intrinsic writes a short-tag function in long form: !Ref and !Condition keep their names,
// !GetAtt A.B becomes ["A", "B"], every other !X becomes Fn::X.
func intrinsic(name string, arg any) any {
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: arg}
	case "GetAtt":
		if s, ok := arg.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			arg = []any{res, attr}
		}
	}
	return map[string]any{"Fn::" + name: arg}
}
