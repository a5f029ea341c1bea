// A standard gRPC health client and server in Go, for test/interop/go-health.ts.
// It uses only grpc-go's own health packages (Debian golang-google-grpc-dev).
//
//	go-health -check -addr HOST:PORT -service NAME    one Check: prints the status or the error code
//	go-health -watch -addr HOST:PORT -service NAME    one Watch: prints each status, then how it ended
//	go-health -serve -port PORT                       a health server: "" SERVING, "down.v1.Service" NOT_SERVING
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func main() {
	check := flag.Bool("check", false, "call Check once")
	watch := flag.Bool("watch", false, "call Watch until the stream ends")
	serve := flag.Bool("serve", false, "serve the health service")
	addr := flag.String("addr", "", "server address")
	service := flag.String("service", "", "service name")
	port := flag.Int("port", 0, "port to serve on")
	flag.Parse()

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
