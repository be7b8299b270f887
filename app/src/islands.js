// Leptos' islands loader (its island_script.js), with one addition: once every island on the
// page has hydrated, lazy ones included, <body data-hydrated="true"> says the page is live.
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
