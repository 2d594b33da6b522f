// Masked fields: a superuser masks fields of users in the Policies tab,
// choosing among the collection's real fields, and a mask of a field
// deleted since is reported there; the product opened by the dashboard's
// Impersonate shows a masked field as hidden while the user's own tab shows
// it, the banner says that some data is hidden, the Sessions tab names the
// hidden field, and the user's page tells the user what support cannot see,
// in English and Spanish.
import { test, before, after } from "node:test";
import { Harness, seed, assert, expectProductUser } from "./harness.mjs";

let h;
let s;
before(async () => {
    h = await Harness.start();
    s = await seed(h.server, { consent: ["alice"] });
});
after(() => h?.close());

// setUserFields adds (or, with remove, removes) text fields of users.
async function setUserFields(add, remove = []) {
    const users = await h.server.ok("GET", "/api/collections/users", { token: s.superToken });
    const fields = users.fields.filter((f) => !remove.includes(f.name));
    for (const name of add) fields.push({ name, type: "text" });
    await h.server.ok("PATCH", "/api/collections/users", { token: s.superToken, body: { fields } });
}

async function maskedFields() {
    const policy = await h.server.ok("GET", `/api/collections/impersonation_policies/records/${s.policy.id}`, {
        token: s.superToken,
    });
    return policy.maskedFields;
}

async function openPolicyEditor(r, dash) {
    await r.openImpersonation(dash, "policies");
    const row = dash.locator('[data-testid="policies-row"][data-collection="users"]');
    await row.locator('[data-testid="policies-edit"]').click();
    const dlg = dash.locator('[data-testid="policy-dialog"]');
    await dlg.waitFor();
    return { row, dlg };
}

test(
    "Policies tab: masks chosen among the real fields; a mask of a field deleted since is reported",
    { timeout: 60000 },
    (t) =>
        h.test(async (r) => {
            await setUserFields(["phone"]);
            const dash = await r.page();
            await r.loginDashboard(dash);
            let { dlg } = await openPolicyEditor(r, dash);

            await dlg.locator('[data-testid="policy-mask-add"]').selectOption("users");
            const block = dlg.locator('[data-testid="policy-mask"][data-collection="users"]');
            await block.waitFor();
            const offered = await block
                .locator('[data-testid="policy-mask-field"]')
                .evaluateAll((els) => els.map((el) => el.dataset.field));
            for (const f of ["email", "name", "phone", "avatar", "verified"]) assert.ok(offered.includes(f), f);
            for (const f of ["id", "password", "tokenKey"]) assert.ok(!offered.includes(f), `${f} is offered`);
            // the dashboard draws its checkboxes on their labels: a click on the label, as a person does
            for (const field of ["email", "phone"]) {
                const box = block.locator(`[data-testid="policy-mask-field"][data-field="${field}"]`);
                await block.locator(`label[for="${await box.getAttribute("id")}"]`).click();
                assert.equal(await box.isChecked(), true, `${field} checked`);
            }
            await dlg.locator('[data-testid="policy-save"]').click();
            await r.dashboardToast(dash, "The policy of users has been saved.");
            await dlg.waitFor({ state: "detached" });
            assert.deepEqual(await maskedFields(), { users: ["email", "phone"] });

            // the phone field goes; the dashboard, reloaded, reports the mask that hides nothing
            await setUserFields([], ["phone"]);
            await dash.reload();
            ({ dlg } = await openPolicyEditor(r, dash));
            const row = dash.locator('[data-testid="policies-row"][data-collection="users"]');
            assert.match(await row.locator('[data-testid="policies-masked-unknown"]').innerText(), /1 unknown/);
            const unknown = dlg.locator('[data-testid="policy-mask-unknown"]');
            assert.match(await unknown.innerText(), /users has no field phone \(any more\): this mask hides nothing\./);
            await unknown.locator('[data-testid="policy-mask-drop"]').click();
            await unknown.waitFor({ state: "detached" });
            await dlg.locator('[data-testid="policy-save"]').click();
            await dlg.waitFor({ state: "detached" });
            assert.deepEqual(await maskedFields(), { users: ["email"] });
        })(t),
);

test(
    "the product shows a masked field as hidden; the banner, the Sessions tab and the user's page say so",
    { timeout: 90000 },
    (t) =>
        h.test(async (r) => {
            const { alice } = s.users;
            await h.server.ok("PATCH", `/api/collections/impersonation_policies/records/${s.policy.id}`, {
                token: s.superToken,
                body: { maskedFields: { users: ["email"] } },
            });

            // Alice's own tab shows her email
            const own = await r.page({ label: "alice" });
            await r.loginProduct(own, alice);
            assert.equal(await own.locator('[data-testid="user-email-fact"]').textContent(), alice.email);

            // the superuser impersonates her from the dashboard
            const ctx = await r.context({ label: "staff" });
            const dash = await ctx.newPage();
            await r.loginDashboard(dash);
            await r.openImpersonation(dash, "users");
            await r.usersRow(dash, alice).locator('[data-testid="users-impersonate"]').click();
            const imp = await r.submitImpersonateDialog(dash, { reason: "ticket 7: masked email" });
            await imp.waitForURL(`${r.url}/`);

            const banner = imp.locator('#pb-impersonation-banner[data-state="active"]');
            await banner.waitFor();
            assert.equal(await banner.locator('[data-testid="impersonation-name"]').textContent(), alice.name);
            assert.ok(!(await banner.innerText()).includes(alice.email), "the banner shows the masked email");
            const masked = banner.locator('[data-testid="impersonation-masked"]');
            await masked.filter({ hasText: "some data hidden" }).waitFor();
            assert.match(await masked.getAttribute("title"), /users\.email/);

            await imp.locator('[data-testid="user-name"]').filter({ hasText: alice.name }).waitFor();
            assert.equal(await imp.locator('[data-testid="user-id"]').textContent(), alice.id);
            assert.equal(await imp.locator('[data-testid="user-email"]').textContent(), "");
            assert.equal(await imp.locator('[data-testid="user-email-fact"]').textContent(), "hidden");
            assert.ok(!(await imp.locator("body").innerText()).includes(alice.email), "the product shows the email");
            await r.screenshot(imp, "masked.png", { clip: { x: 0, y: 0, width: 1280, height: 520 } });

            // the Sessions tab names what the live session cannot see
            await dash.bringToFront();
            await r.openImpersonation(dash, "sessions");
            const session = dash.locator('[data-testid="sessions-row"]').filter({ hasText: "ticket 7: masked email" });
            await session
                .locator('[data-testid="sessions-field-hidden"]')
                .filter({ hasText: "email hidden" })
                .waitFor();

            // Alice's page tells her what support cannot see, in English and in Spanish
            await own.bringToFront();
            await own.goto(`${r.url}/impersonation/`);
            const section = own.locator('[data-testid="masked-fields"]');
            await section.waitFor();
            assert.match(await section.innerText(), /What support cannot see/);
            assert.equal(await section.locator('li[data-collection="users"]').textContent(), "users: email");
            const es = await r.page({ label: "alice-es", locale: "es-ES" });
            await es.goto(`${r.url}/impersonation/`);
            await r.login(es, alice);
            const esSection = es.locator('[data-testid="masked-fields"]');
            await esSection.waitFor();
            assert.match(await esSection.innerText(), /Lo que soporte no puede ver/);

            // Alice's own tab still shows her email after all this
            await own.goto(`${r.url}/`);
            await expectProductUser(own, alice);
            await imp.locator("#pb-impersonation-exit").click();
            await imp.locator('#pb-impersonation-banner[data-state="ended"]').waitFor();
        })(t),
);
