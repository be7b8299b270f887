// Leptos' islands loader (its island_script.js), with additions: once every island on the page
// has hydrated, lazy ones included, <body data-hydrated="true"> says the page is live; and a
// fetch of the page's code that the network fails is tried again.
((root, pkgPath, outputName, wasmOutputName) => {
	const childrenCallbacks = [];
	async function traverse(node, mod) {
		if (node.nodeType !== Node.ELEMENT_NODE) return;
		const tag = node.tagName.toLowerCase();
		if (tag === 'leptos-island') {
			await hydrateIsland(node, node.dataset.component || null, mod);
			for (const child of node.children) await traverse(child, mod);
		} else if (tag === 'leptos-children') {
			childrenCallbacks.push(node.$$on_hydrate);
			for (const child of node.children) await traverse(child, mod);
			childrenCallbacks.pop();
		} else {
			for (const child of node.children) await traverse(child, mod);
		}
	}
	async function hydrateIsland(el, id, mod) {
		const islandFn = mod[id];
		if (!islandFn) {
			console.warn(`Could not find WASM function for the island ${id}.`);
			return;
		}
		const childrenCallback = childrenCallbacks[childrenCallbacks.length - 1];
		if (childrenCallback) childrenCallback();
		// One island that fails (its code not fetched, say) leaves the others live, and the
		// page still says when the loader is done; the island's forms work as without script.
		try {
			const res = islandFn(el);
			if (res && res.then) await res;
		} catch (e) {
			console.error(`The island ${id} did not hydrate:`, e);
		}
	}
	// The page's code is fetched again when the network fails under it: Chromium fails the
	// requests in flight with ERR_NETWORK_CHANGED whenever an interface comes or goes (a
	// container engine's veths do, a phone's radio does), and a lazy island cannot survive even
	// one failed fetch of its code, since wasm-split's loader then panics and the island's
	// promise never settles. Only GETs under the package directory are retried.
	const pkg = new URL(`${root}/${pkgPath}/`, location.href).href;
	const fetchOnce = window.fetch.bind(window);
	window.fetch = async (input, init) => {
		const url = new URL(input instanceof Request ? input.url : String(input), location.href).href;
		const method = (init && init.method) || (input instanceof Request ? input.method : 'GET');
		if (!url.startsWith(pkg) || method.toUpperCase() !== 'GET') return fetchOnce(input, init);
		for (let attempt = 1; ; attempt++) {
			try {
				const res = await fetchOnce(input, init);
				if (res.status < 500 || attempt === 5) return res;
			} catch (e) {
				if (attempt === 5) throw e;
			}
			await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
		}
	};
	const start = () => import(`${root}/${pkgPath}/${outputName}.js`).then(async (mod) => {
		await mod.default({ module_or_path: `${root}/${pkgPath}/${wasmOutputName}.wasm` });
		mod.hydrate();
		window.__hydrateIsland = (el, id) => hydrateIsland(el, id, mod);
		await traverse(document.body, mod);
		document.body.setAttribute('data-hydrated', 'true');
	});
	if ('requestIdleCallback' in window) window.requestIdleCallback(start, { timeout: 1000 });
	else start();
})
