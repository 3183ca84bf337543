// Passkeys (WebAuthn) for Gatehouse: signing in from /login and adding one on /account/passkeys.
// No framework, no inline script. Every POST carries the page's CSRF token in X-CSRF-Token.
"use strict";

(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return; // The blocks stay hidden; the "needs a browser that supports passkeys" hint stays.
  }

  function toBase64Url(buffer) {
    var bytes = new Uint8Array(buffer);
    var text = "";
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromBase64Url(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) base64 += "=";
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function post(url, token, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": token },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.error || data.message || "The request failed (" + response.status + ").");
          error.link = data.link;
          throw error;
        }
        return data;
      });
    });
  }

  function creationOptions(options) {
    var publicKey = options.publicKey;
    publicKey.challenge = fromBase64Url(publicKey.challenge);
    publicKey.user.id = fromBase64Url(publicKey.user.id);
    (publicKey.excludeCredentials || []).forEach(function (c) { c.id = fromBase64Url(c.id); });
    return { publicKey: publicKey };
  }

  function requestOptions(options) {
    var publicKey = options.publicKey;
    publicKey.challenge = fromBase64Url(publicKey.challenge);
    (publicKey.allowCredentials || []).forEach(function (c) { c.id = fromBase64Url(c.id); });
    return { publicKey: publicKey };
  }

  function registrationJson(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64Url(credential.rawId),
      type: credential.type,
      extensions: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: {
        attestationObject: toBase64Url(response.attestationObject),
        clientDataJSON: toBase64Url(response.clientDataJSON),
        transports: response.getTransports ? response.getTransports() : undefined
      }
    };
  }

  function assertionJson(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64Url(credential.rawId),
      type: credential.type,
      extensions: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: {
        authenticatorData: toBase64Url(response.authenticatorData),
        clientDataJSON: toBase64Url(response.clientDataJSON),
        signature: toBase64Url(response.signature),
        userHandle: response.userHandle ? toBase64Url(response.userHandle) : null
      }
    };
  }

  function say(element, text) {
    if (element) element.textContent = text;
  }

  function describe(error) {
    if (error && error.name === "NotAllowedError") return "The passkey request was cancelled or timed out.";
    if (error && error.name === "InvalidStateError") return "This device already holds a passkey for your account.";
    return (error && error.message) || "Something went wrong with the passkey.";
  }

  // --- Signing in (/login) ---
  var login = document.getElementById("passkey-login");
  if (login) {
    var token = login.getAttribute("data-csrf-token");
    var button = document.getElementById("passkey-login-button");
    var status = document.getElementById("passkey-login-status");
    var form = login.parentNode.querySelector("form[action='/login']");
    var conditional = null;

    var finish = function (credential) {
      say(status, "Checking your passkey…");
      var next = form && form.elements.next ? form.elements.next.value : "";
      var remember = !!(form && form.elements.remember && form.elements.remember.checked);
      return post("/login/passkey", token, { credential: assertionJson(credential), next: next, remember: remember })
        .then(function (data) { window.location.assign(data.redirect || "/dashboard"); });
    };

    // One ceremony at a time: the challenge lives in one cookie, so the button waits until the
    // autofill request has its options, then aborts it and asks for its own.
    var conditionalOptions = null;

    var signIn = function (mediation) {
      var controller = mediation === "conditional" ? new AbortController() : null;
      if (controller) conditional = controller;
      var fetched = post("/login/passkey/options", token);
      if (controller) conditionalOptions = fetched;
      return fetched.then(function (options) {
        if (controller && controller.signal.aborted) return null;
        var request = requestOptions(options);
        if (controller) {
          request.mediation = "conditional";
          request.signal = controller.signal;
        }
        return navigator.credentials.get(request);
      }).then(function (credential) {
        if (credential) return finish(credential);
      });
    };

    login.hidden = false;
    button.addEventListener("click", function () {
      say(status, "Follow your browser's prompt to use a passkey…");
      button.disabled = true;
      var before = conditionalOptions ? conditionalOptions.catch(function () {}) : Promise.resolve();
      before.then(function () {
        if (conditional) { conditional.abort(); conditional = null; }
        return signIn("modal");
      }).catch(function (error) {
        say(status, describe(error));
      }).then(function () { button.disabled = false; });
    });

    // Autofill: passkeys offered in the username field's suggestions, where the browser can.
    if (PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (!available) return;
        signIn("conditional").catch(function (error) {
          if (error && error.name === "AbortError") return;
          say(status, describe(error));
        });
      });
    }
  }

  // --- Adding a passkey (/account/passkeys) ---
  var add = document.getElementById("passkey-add");
  if (add) {
    var addToken = add.getAttribute("data-csrf-token");
    var addButton = document.getElementById("passkey-add-button");
    var addStatus = document.getElementById("passkey-add-status");
    var unsupported = document.getElementById("passkey-unsupported");
    var nameInput = document.getElementById("passkey-name");
    var passwordInput = document.getElementById("passkey-current-password");
    var codeInput = document.getElementById("passkey-code");
    add.hidden = false;
    if (unsupported) unsupported.hidden = true;
    addButton.addEventListener("click", function () {
      addButton.disabled = true;
      say(addStatus, "Follow your browser's prompt to create a passkey…");
      // The password (and code) prove it is the account's owner at the keyboard, not a stolen session.
      post("/account/passkeys/options", addToken, {
        current_password: passwordInput ? passwordInput.value : "",
        code: codeInput ? codeInput.value : ""
      }).then(function (options) {
        if (passwordInput) passwordInput.value = "";
        if (codeInput) codeInput.value = "";
        return navigator.credentials.create(creationOptions(options));
      }).then(function (credential) {
        say(addStatus, "Saving your passkey…");
        return post("/account/passkeys/add", addToken, {
          name: nameInput ? nameInput.value : "",
          credential: registrationJson(credential)
        });
      }).then(function (data) {
        window.location.assign(data.redirect || "/account/passkeys");
      }).catch(function (error) {
        say(addStatus, describe(error));
        addButton.disabled = false;
      });
    });
  }
})();
