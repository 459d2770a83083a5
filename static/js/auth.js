// Log in (with the TOTP step when 2FA is on) and register, in two dialogs. `onLoggedIn` runs once the
// API has tokens.
import { ApiError } from "./api.js";
import { $ } from "./dom.js";

export function bindAuthDialogs({ api, onLoggedIn }) {
  const dialogs = { login: $("login-dialog"), register: $("register-dialog") };

  /** Opens a dialog; `message` (a reason to log in again) is shown in the login dialog. */
  function open(which, message = "") {
    const dialog = dialogs[which];
    for (const error of dialog.querySelectorAll(".field-error")) error.textContent = "";
    if (!dialog.open) dialog.showModal();
    dialog.querySelector("input").focus();
    if (message) $("login-error").textContent = message;
  }

  for (const dialog of Object.values(dialogs)) {
    for (const button of dialog.querySelectorAll("[data-close]")) button.addEventListener("click", () => dialog.close());
  }

  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const error = $("login-error");
    error.textContent = "";
    const submit = $("login-submit");
    submit.disabled = true;
    try {
      await api.login(form.username.value.trim(), form.password.value, form.otp_code.value.trim() || undefined);
      form.reset();
      $("login-otp-field").hidden = true;
      dialogs.login.close();
      onLoggedIn();
    } catch (failure) {
      if (!(failure instanceof ApiError)) throw failure;
      if (failure.code === "otp_required") {
        $("login-otp-field").hidden = false;
        $("login-otp").focus();
        error.textContent = "Two-factor authentication is on: enter the code from your authenticator app.";
      } else {
        const retry = failure.details?.retry_after;
        error.textContent = failure.message + (retry ? ` Try again in ${retry} s.` : "");
      }
    } finally {
      submit.disabled = false;
    }
  });

  $("register-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    for (const error of form.querySelectorAll(".field-error")) error.textContent = "";
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    const submit = $("register-submit");
    submit.disabled = true;
    try {
      const [email, username, password] = [form.email.value.trim(), form.username.value.trim(), form.password.value];
      await api.register(email, username, password);
      await api.login(username, password);
      form.reset();
      dialogs.register.close();
      onLoggedIn();
    } catch (failure) {
      if (!(failure instanceof ApiError)) throw failure;
      let shown = false;
      for (const [field, messages] of Object.entries(failure.details ?? {})) {
        const target = $(`register-${field}-error`);
        if (target) {
          target.textContent = [].concat(messages).join(" ");
          $(`register-${field}`).setAttribute("aria-invalid", "true");
          shown = true;
        }
      }
      if (!shown) $("register-error").textContent = failure.message;
    } finally {
      submit.disabled = false;
    }
  });

  return { open };
}
