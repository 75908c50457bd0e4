(function(w,d){"use strict";
var s=d.currentScript,base=s&&s.src?new URL(s.src).origin:"",acct=s&&s.getAttribute("data-account"),
url=base+"/v1/track"+(acct?"?account="+encodeURIComponent(acct):""),IDLE=18e5,ls;
try{ls=w.localStorage;ls.setItem("lg_t","1");ls.removeItem("lg_t")}catch(e){ls=null}
function rid(){if(w.crypto&&crypto.randomUUID)return crypto.randomUUID();var b=new Uint8Array(16);crypto.getRandomValues(b);
return Array.prototype.map.call(b,function(x){return(x+256).toString(16).slice(1)}).join("")}
function cookie(k){try{var m=d.cookie.match("(?:^|; )"+k+"=([^;]*)");return m?decodeURIComponent(m[1]):null}catch(e){return null}}
function get(k){return cookie(k)||(ls&&ls.getItem(k))}
function put(k,v,days){try{d.cookie=k+"="+encodeURIComponent(v)+"; path=/; max-age="+days*864e2+"; SameSite=Lax"+(location.protocol==="https:"?"; Secure":"")}catch(e){}if(ls)try{ls.setItem(k,v)}catch(e){}}
var vid=get("lg_vid")||rid();put("lg_vid",vid,400);
function sid(){var now=Date.now(),id=get("lg_sid"),last=+get("lg_last")||0;if(!id||now-last>IDLE)id=rid();put("lg_sid",id,1);put("lg_last",""+now,1);return id}
var tz;try{tz=Intl.DateTimeFormat().resolvedOptions().timeZone}catch(e){}
function send(type){var body=JSON.stringify({visitor_id:vid,session_id:sid(),type:type,url:location.href,referrer:d.referrer||null,title:d.title||null,ts:Date.now(),tz:tz||null});
if(w.fetch)try{fetch(url,{method:"POST",body:body,keepalive:true,mode:"cors",credentials:"omit",headers:{"Content-Type":"text/plain"}})["catch"](function(){});return}catch(e){}
try{navigator.sendBeacon&&navigator.sendBeacon(url,new Blob([body],{type:"text/plain"}))}catch(e){}}
var shown=Date.now();
function field(f,name,value){var i=f.querySelector('input[name="'+name+'"]');if(!i){i=d.createElement("input");i.type="hidden";i.name=name;f.appendChild(i)}i.value=value}
function trap(f){if(f.querySelector('input[name="__pg_hp"]'))return;var b=d.createElement("div"),i=d.createElement("input");
b.setAttribute("aria-hidden","true");b.style.cssText="position:absolute!important;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden";
i.type="text";i.name="__pg_hp";i.tabIndex=-1;i.autocomplete="off";b.appendChild(i);f.appendChild(b)}
function fill(){var fs=d.querySelectorAll("form[data-leadgate]");for(var n=0;n<fs.length;n++){var f=fs[n];trap(f);
field(f,"visitor_id",vid);field(f,"session_id",sid());if(!f.__lg){f.__lg=1;field(f,"__pg_ts",""+shown);
f.addEventListener("submit",function(){field(this,"session_id",sid())},true)}}}
w.leadgate={visitorId:vid,fill:fill,track:send};
function start(){fill();send("pageview")}
if(d.readyState==="loading")d.addEventListener("DOMContentLoaded",start);else start();
var used=Date.now();["mousemove","keydown","scroll","touchstart","click"].forEach(function(e){w.addEventListener(e,function(){used=Date.now()},{passive:true})});
setInterval(function(){if(d.visibilityState==="visible"&&Date.now()-used<6e4)send("heartbeat")},15e3);
w.addEventListener("pagehide",function(){send("leave")});
})(window,document);
