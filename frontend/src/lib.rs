//! The wasm entry point: hydrates the page's islands (the rest of the page is server-rendered
//! and ships no code), then marks `<body>` so tests (and styles) know the page is interactive.

use wasm_bindgen::prelude::wasm_bindgen;

// The islands' hydration functions are exported from the `app` crate.
#[allow(unused_imports)]
use app::*;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
    // Leptos' loader hydrates the islands right after this returns, each in a microtask;
    // a timer runs after all of them.
    leptos::prelude::set_timeout(
        || {
            if let Some(body) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.body())
            {
                let _ = body.set_attribute("data-hydrated", "true");
            }
        },
        std::time::Duration::ZERO,
    );
}
