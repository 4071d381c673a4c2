package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kommungraf/kommungraf/graph/operations"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/tracing"
)

// operationTrace is the span of one GraphQL operation (graphql.operation),
// the parent of its loader batches and upstream calls. Its name and
// attributes are the operation's type and name, the name only when it is
// loggable (no personnummer-like digits), and the codes of the errors
// answered; never the document, the variables or the data.
type operationTrace struct{}

func (operationTrace) ExtensionName() string                   { return "OperationTrace" }
func (operationTrace) Validate(graphql.ExecutableSchema) error { return nil }

func (operationTrace) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	kind, name := "query", ""
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		if oc.Operation != nil {
			kind, name = string(oc.Operation.Operation), oc.Operation.Name
		}
	}
	name = model.LoggableOperationName(name)
	attrs := []attribute.KeyValue{attribute.String("graphql.operation.type", kind)}
	if name != "" {
		attrs = append(attrs, attribute.String("graphql.operation.name", name))
	}
	if info := operations.InfoFrom(ctx); info != nil {
		attrs = append(attrs, attribute.String("graphql.document.kind", info.Kind))
		if info.ID != "" {
			attrs = append(attrs, attribute.String("graphql.operation.id", info.ID))
		}
	}
	ctx, span := tracing.Tracer().Start(ctx, "graphql.operation", trace.WithAttributes(attrs...))
	defer span.End()
	resp := next(ctx)
	if resp != nil && len(resp.Errors) > 0 && span.IsRecording() {
		codeList := make([]string, 0, len(resp.Errors))
		for _, e := range resp.Errors {
			c, _ := e.Extensions["code"].(string)
			codeList = append(codeList, c)
		}
		span.SetAttributes(attribute.StringSlice("graphql.error.codes", codeList))
		span.SetStatus(codes.Error, "the answer carries errors")
	}
	return resp
}

var (
	_ graphql.HandlerExtension    = operationTrace{}
	_ graphql.ResponseInterceptor = operationTrace{}
)
