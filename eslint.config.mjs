// ESLint (flat config): the plugin's UI (pb_public), the demo product, the
// browser tests and the example pb_hooks file. `npm run lint` runs it with
// prettier's check; CI too.
import js from "@eslint/js";
import globals from "globals";

export default [
    { ignores: ["node_modules/", "pb_public/impersonation/vendor/", "docs/"] },
    js.configs.recommended,
    {
        files: ["pb_public/**/*.js", "demo/**/*.js"],
        languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.browser },
        rules: {
            "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }],
            // values reach the DOM as text: no HTML strings
            "no-restricted-properties": [
                "error",
                { property: "innerHTML", message: "Set text (textContent, text nodes), never HTML." },
                { property: "outerHTML", message: "Set text (textContent, text nodes), never HTML." },
            ],
            "no-restricted-syntax": [
                "error",
                {
                    selector: "CallExpression[callee.property.name='insertAdjacentHTML']",
                    message: "Never insert HTML.",
                },
            ],
        },
    },
    {
        // the banner is a classic script, included before the page's modules
        files: ["pb_public/impersonation/banner.js"],
        languageOptions: { sourceType: "script" },
    },
    {
        // the dashboard extension runs inside PocketBase's dashboard, whose
        // globals it uses: the app, and the Shablon tag builder and store
        files: ["pb_public/dashboard/**/*.js"],
        languageOptions: {
            globals: { app: "readonly", t: "readonly", store: "readonly", watch: "readonly" },
        },
    },
    {
        // pb_hooks files run in PocketBase's JS engine (jsvm), with its
        // globals and the plugin's (plugin/pbhooks)
        files: ["examples/pb_hooks/**/*.js"],
        languageOptions: {
            ecmaVersion: 2022,
            sourceType: "script",
            globals: {
                $app: "readonly",
                routerAdd: "readonly",
                ForbiddenError: "readonly",
                onImpersonationStart: "readonly",
                onImpersonationEnd: "readonly",
                $impersonation: "readonly",
            },
        },
    },
    {
        files: ["e2e/**/*.mjs", "eslint.config.mjs"],
        languageOptions: {
            ecmaVersion: 2022,
            sourceType: "module",
            globals: { ...globals.node, ...globals.browser, app: "readonly" },
        },
        rules: { "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }] },
    },
];
