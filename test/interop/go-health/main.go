// A standard gRPC health client and server in Go, for test/interop/go-health.ts.
// It uses only grpc-go's own packages and google.golang.org/protobuf (Debian
// golang-google-grpc-dev and golang-github-golang-protobuf-1-5-dev).
//
//	go-health -check -addr HOST:PORT -service NAME    one Check: prints the status or the error code
//	go-health -watch -addr HOST:PORT -service NAME    one Watch: prints each status, then how it ended
//	go-health -serve -port PORT                       a health server: "" SERVING, "down.v1.Service" NOT_SERVING
//	go-health -describe -addr HOST:PORT -services A,B the schema of services A and B as server reflection
//	                                                  serves it, resolved by protodesc as grpcurl does
//	go-health -describe -descriptors FILE -services A,B
//	                                                  the same from a descriptor set protoc wrote
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

func main() {
	check := flag.Bool("check", false, "call Check once")
	watch := flag.Bool("watch", false, "call Watch until the stream ends")
	serve := flag.Bool("serve", false, "serve the health service")
	addr := flag.String("addr", "", "server address")
	service := flag.String("service", "", "service name")
	port := flag.Int("port", 0, "port to serve on")
	describe := flag.Bool("describe", false, "print the schema of -services, from reflection or -descriptors")
	descriptors := flag.String("descriptors", "", "a FileDescriptorSet file, instead of asking the server")
	services := flag.String("services", "", "comma-separated full service names")
	flag.Parse()

	if *describe {
		if err := describeServices(*addr, *descriptors, strings.Split(*services, ",")); err != nil {
			fmt.Println("describe:", err)
			os.Exit(1)
		}
		return
	}

	if *serve {
		lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(1)
		}
		server := grpc.NewServer()
		healthServer := health.NewServer() // "" is SERVING from the start
		healthServer.SetServingStatus("down.v1.Service", healthpb.HealthCheckResponse_NOT_SERVING)
		healthpb.RegisterHealthServer(server, healthServer)
		fmt.Println("serving")
		server.Serve(lis)
		return
	}

	conn, err := grpc.Dial(*addr, grpc.WithInsecure())
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(1)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	request := &healthpb.HealthCheckRequest{Service: *service}

	if *check {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		response, err := client.Check(ctx, request)
		if err != nil {
			fmt.Printf("check %q: error %s\n", *service, status.Code(err))
			return
		}
		fmt.Printf("check %q: %s\n", *service, response.GetStatus())
	}

	if *watch {
		stream, err := client.Watch(context.Background(), request)
		if err != nil {
			fmt.Printf("watch %q: error %s\n", *service, status.Code(err))
			return
		}
		for {
			response, err := stream.Recv()
			if err != nil {
				fmt.Printf("watch %q: ended %s\n", *service, status.Code(err))
				return
			}
			fmt.Printf("watch %q: %s\n", *service, response.GetStatus())
		}
	}
}

// describeServices prints each service's methods and every message and enum
// they reach, with full names, field kinds and JSON names: what grpcurl's
// describe resolves. The files come from server reflection (the files that
// define each service, and their imports) or from a descriptor set.
func describeServices(addr, descriptorSet string, services []string) error {
	var set descriptorpb.FileDescriptorSet
	if descriptorSet != "" {
		data, err := os.ReadFile(descriptorSet)
		if err != nil {
			return err
		}
		if err := proto.Unmarshal(data, &set); err != nil {
			return err
		}
	} else {
		files, err := reflectedFiles(addr, services)
		if err != nil {
			return err
		}
		set.File = files
	}
	// protodesc is what grpcurl (through jhump/protoreflect) builds descriptors
	// with: it refuses files it cannot resolve.
	registry, err := protodesc.NewFiles(&set)
	if err != nil {
		return err
	}
	lines := map[string][]string{}
	var reach func(d protoreflect.Descriptor)
	reach = func(d protoreflect.Descriptor) {
		name := string(d.FullName())
		if _, seen := lines[name]; seen {
			return
		}
		switch d := d.(type) {
		case protoreflect.EnumDescriptor:
			lines[name] = []string{"enum " + name}
			for i := 0; i < d.Values().Len(); i++ {
				value := d.Values().Get(i)
				lines[name] = append(lines[name], fmt.Sprintf("  %s = %d", value.Name(), value.Number()))
			}
		case protoreflect.MessageDescriptor:
			lines[name] = []string{"message " + name}
			for i := 0; i < d.Fields().Len(); i++ {
				field := d.Fields().Get(i)
				lines[name] = append(lines[name], fmt.Sprintf("  %s %s = %d json=%s", fieldType(field), field.Name(), field.Number(), field.JSONName()))
				if field.IsMap() {
					field = field.MapValue()
				}
				if field.Message() != nil {
					reach(field.Message())
				}
				if field.Enum() != nil {
					reach(field.Enum())
				}
			}
		}
	}
	for _, name := range services {
		found, err := registry.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			return fmt.Errorf("service %s: %v", name, err)
		}
		service, ok := found.(protoreflect.ServiceDescriptor)
		if !ok {
			return fmt.Errorf("%s is not a service", name)
		}
		lines[name] = []string{"service " + name}
		for i := 0; i < service.Methods().Len(); i++ {
			method := service.Methods().Get(i)
			lines[name] = append(lines[name], fmt.Sprintf("  rpc %s(%s%s) returns (%s%s)", method.Name(), streamWord(method.IsStreamingClient()), method.Input().FullName(), streamWord(method.IsStreamingServer()), method.Output().FullName()))
			reach(method.Input())
			reach(method.Output())
		}
	}
	names := make([]string, 0, len(lines))
	for name := range lines {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Println(strings.Join(lines[name], "\n"))
	}
	return nil
}

func fieldType(field protoreflect.FieldDescriptor) string {
	kind := func(f protoreflect.FieldDescriptor) string {
		switch {
		case f.Message() != nil:
			return string(f.Message().FullName())
		case f.Enum() != nil:
			return string(f.Enum().FullName())
		}
		return f.Kind().String()
	}
	switch {
	case field.IsMap():
		return fmt.Sprintf("map<%s, %s>", kind(field.MapKey()), kind(field.MapValue()))
	case field.IsList():
		return "repeated " + kind(field)
	}
	return kind(field)
}

func streamWord(streaming bool) string {
	if streaming {
		return "stream "
	}
	return ""
}

// reflectedFiles asks server reflection for the file that defines each
// service, and for every file those import, as grpcurl does.
func reflectedFiles(addr string, services []string) ([]*descriptorpb.FileDescriptorProto, error) {
	conn, err := grpc.Dial(addr, grpc.WithInsecure())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*descriptorpb.FileDescriptorProto{}
	var files []*descriptorpb.FileDescriptorProto
	ask := func(request *reflectionpb.ServerReflectionRequest) error {
		if err := stream.Send(request); err != nil {
			return err
		}
		response, err := stream.Recv()
		if err != nil {
			return err
		}
		if failure := response.GetErrorResponse(); failure != nil {
			return fmt.Errorf("reflection: %s", failure.GetErrorMessage())
		}
		for _, data := range response.GetFileDescriptorResponse().GetFileDescriptorProto() {
			file := &descriptorpb.FileDescriptorProto{}
			if err := proto.Unmarshal(data, file); err != nil {
				return err
			}
			if byName[file.GetName()] == nil {
				byName[file.GetName()] = file
				files = append(files, file)
			}
		}
		return nil
	}
	for _, service := range services {
		if err := ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: service}}); err != nil {
			return nil, err
		}
	}
	for i := 0; i < len(files); i++ {
		for _, dependency := range files[i].GetDependency() {
			if byName[dependency] == nil {
				if err := ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileByFilename{FileByFilename: dependency}}); err != nil {
					return nil, err
				}
			}
		}
	}
	return files, nil
}
