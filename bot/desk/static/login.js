"use strict";
(function () {
  var messages = { invalid: "账号或密码错误，请重新输入。", locked: "登录失败次数过多，请15分钟后再试。" };
  var code = new URLSearchParams(location.search).get("error");
  var box = document.getElementById("login-error");
  if (code && messages[code]) { box.textContent = messages[code]; box.hidden = false; }
})();
