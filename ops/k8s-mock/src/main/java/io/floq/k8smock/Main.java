/*
 * Main.java - a Kubernetes API server for floq's kubernetes-backend tests:
 * fabric8's KubernetesMockServer in CRUD mode (objects posted are stored,
 * read, listed by label, patched and deleted as a real API server would,
 * with 409 AlreadyExists on a repeated create), on 127.0.0.1 and the port
 * given (0: a free one), plain HTTP. It prints "url http://127.0.0.1:PORT" once it
 * listens, then serves until killed. /readyz answers "ok" like the real
 * server's probe. No controller runs: the test sets Jobs' status itself.
 */
package io.floq.k8smock;

import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import java.net.InetAddress;
import java.util.HashMap;
import java.util.Map;
import java.util.Queue;

public final class Main {
    private Main() {
    }

    public static void main(String[] args) throws Exception {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 0;
        Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
        /* CRUD with expectations first (the mixed dispatcher), plain HTTP:
         * the tests put their own TLS proxy in front (the mock's built-in
         * HTTPS has a certificate no client can verify). */
        KubernetesMockServer server = new KubernetesMockServer(new Context(),
                new MockWebServer(), responses,
                new KubernetesMixedDispatcher(responses), false);

        server.expect().get().withPath("/readyz").andReturn(200, "ok")
                .always();
        server.init(InetAddress.getByName("127.0.0.1"), port);
        System.out.println("url http://127.0.0.1:" + server.getPort());
        System.out.flush();
        Thread.currentThread().join();
    }
}
