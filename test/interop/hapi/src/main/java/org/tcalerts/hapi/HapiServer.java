package org.tcalerts.hapi;

import ca.uhn.fhir.rest.server.RestfulServer;
import java.net.InetSocketAddress;
import java.util.Arrays;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;

/**
 * java -cp … org.tcalerts.hapi.HapiServer PORT [HOST] [--exit-on-stdin-eof]: HAPI FHIR R4 at http://HOST:PORT/fhir
 * (HOST default 127.0.0.1; PORT 0 = a free port, reported on the ready line). With --exit-on-stdin-eof the server
 * exits when its standard input closes, so it never outlives the process that started it.
 */
public final class HapiServer {
	private HapiServer() {}

	public static void main(String[] args) throws Exception {
		if (args.length < 1) {
			System.err.println("usage: HapiServer PORT [HOST] [--exit-on-stdin-eof]");
			System.exit(64);
		}
		int port = Integer.parseInt(args[0]);
		String host = args.length > 1 && !args[1].startsWith("--") ? args[1] : "127.0.0.1";
		if (Arrays.asList(args).contains("--exit-on-stdin-eof")) {
			Thread watcher = new Thread(() -> {
				try {
					while (System.in.read() != -1) {
						// nothing is sent; EOF means the parent is gone
					}
				} catch (Exception ignored) {
					// treated as EOF
				}
				System.exit(0);
			}, "stdin-eof-watcher");
			watcher.setDaemon(true);
			watcher.start();
		}
		long started = System.nanoTime();
		AnnotationConfigApplicationContext spring = new AnnotationConfigApplicationContext(HapiConfig.class);
		RestfulServer fhir = spring.getBean(RestfulServer.class);

		Server jetty = new Server(new InetSocketAddress(host, port));
		ServletContextHandler context = new ServletContextHandler();
		context.setContextPath("/");
		ServletHolder holder = new ServletHolder(fhir);
		holder.setInitOrder(1);
		context.addServlet(holder, "/fhir/*");
		jetty.setHandler(context);
		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			try {
				jetty.stop();
			} catch (Exception ignored) {
				// exiting anyway
			}
			spring.close();
		}, "shutdown"));
		jetty.start();
		int bound = ((ServerConnector) jetty.getConnectors()[0]).getLocalPort();
		long ms = (System.nanoTime() - started) / 1_000_000;
		// The launcher reads the port from this line, then waits for /fhir/metadata.
		System.out.println("HAPI FHIR ready at http://" + host + ":" + bound + "/fhir (" + ms + " ms)");
		System.out.flush();
		jetty.join();
	}
}
